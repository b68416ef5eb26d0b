// `server trust`: fetching a host's keys from the harness sshd without logging in, and recording them
// in known_hosts only after confirmation, never over a different recorded key unless told to replace.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Logger } from "../../../mod/lib/log.ts";
import { sha256Fingerprint } from "../../../mod/ssh/known-hosts.ts";
import { SftpSession } from "../../../mod/ssh/session.ts";
import { appendKnownHosts, fetchHostKeys, type TrustHostOptions, trustHost } from "../../../mod/ssh/trust.ts";
import { runCommand } from "../../harness/process.ts";
import { type SshdHandle, startSshd } from "../../harness/sshd.ts";
import { freePort, makeTempDir, removeTempDir } from "../../harness/tmp.ts";
import { blobOf, makeClientKey, sshdLog } from "./fixtures.ts";

const logger = new Logger("test:trust");
let dir: string;
let sshd: SshdHandle;
let fileCounter = 0;

beforeAll(async () => {
  dir = await makeTempDir("bkpctl-trust-");
  sshd = await startSshd({ extraHostKeyTypes: ["ecdsa", "rsa"] });
}, 60_000);
afterAll(async () => {
  await sshd?.stop();
  await removeTempDir(dir);
}, 30_000);

/** Runs trustHost against the harness sshd and returns its exit code, output and the questions asked. */
async function runTrust(knownHostsFile: string, overrides: Partial<TrustHostOptions> = {}) {
  let output = "";
  const questions: string[] = [];
  const code = await trustHost({
    host: sshd.host,
    port: sshd.port,
    knownHostsFile,
    assumeYes: false,
    confirm: async (question) => {
      questions.push(question);
      return true;
    },
    output: { write: (text: string) => (output += text) },
    logger,
    ...overrides,
  });
  return { code, output, questions };
}

/** Returns a fresh path for a known_hosts file in the temp dir. */
function newPath(): string {
  return join(dir, `known_hosts.${++fileCounter}`);
}

const fingerprintOf = (publicKey: string | undefined) => sha256Fingerprint(blobOf(publicKey));

describe("fetchHostKeys", () => {
  test("returns every key type the host offers, with OpenSSH fingerprints, without logging in", async () => {
    const log = sshdLog(sshd);
    await log.mark();
    const keys = await fetchHostKeys({ host: sshd.host, port: sshd.port, timeoutMs: 10_000 });
    expect(keys.map((key) => key.keyType)).toEqual(["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"]);
    expect(keys.map((key) => key.fingerprint)).toEqual([
      fingerprintOf(sshd.hostPublicKeys.ed25519),
      fingerprintOf(sshd.hostPublicKeys.ecdsa),
      fingerprintOf(sshd.hostPublicKeys.rsa),
    ]);
    const publicKeyFile = join(dir, "host_ed25519.pub");
    await writeFile(publicKeyFile, `${sshd.hostPublicKey}\n`);
    const listed = await runCommand(["ssh-keygen", "-l", "-E", "sha256", "-f", publicKeyFile]);
    expect(listed.stdout.split(" ")[1]).toBe(keys[0]?.fingerprint ?? "-");
    const logged = await log.sinceMark();
    expect(logged.match(/Connection from 127\.0\.0\.1/g)).toHaveLength(3);
    expect(logged).not.toContain(sshd.user);
    expect(logged).not.toMatch(/publickey|Accepted|Failed|Invalid user/);
  });

  test("returns only the types a host has", async () => {
    const single = await startSshd();
    try {
      const keys = await fetchHostKeys({ host: single.host, port: single.port, timeoutMs: 10_000 });
      expect(keys.map((key) => key.keyType)).toEqual(["ssh-ed25519"]);
    } finally {
      await single.stop();
    }
  }, 30_000);

  test("a closed port is a connection error naming host:port", async () => {
    const port = await freePort();
    await expect(fetchHostKeys({ host: "127.0.0.1", port, timeoutMs: 5000 })).rejects.toThrow(
      `Cannot connect to "127.0.0.1:${port}": connection refused`,
    );
  });
});

describe("trustHost", () => {
  test("shows the fingerprints, asks, records every key in a new 0600 file, and the pull then connects", async () => {
    const path = newPath();
    const { code, output, questions } = await runTrust(path);
    expect(code).toBe(0);
    expect(output).toContain(`Host keys offered by 127.0.0.1:${sshd.port}:`);
    for (const key of Object.values(sshd.hostPublicKeys)) expect(output).toContain(fingerprintOf(key));
    expect(questions).toHaveLength(1);
    expect(questions[0]).toContain(path);
    expect(await readFile(path, "utf8")).toBe(`${sshd.knownHostsLines.join("\n")}\n`);
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    const session = await SftpSession.connect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKeyPath: sshd.privateKeyPath,
      knownHostsFile: path,
      logger,
    });
    await session.close();
  });

  test("a second run finds the keys already trusted and changes nothing", async () => {
    const path = newPath();
    await runTrust(path, { assumeYes: true });
    const before = await readFile(path, "utf8");
    const { code, output, questions } = await runTrust(path);
    expect(code).toBe(0);
    expect(output).toContain("already trusted");
    expect(questions).toHaveLength(0);
    expect(await readFile(path, "utf8")).toBe(before);
  });

  test("declining records nothing and exits 1", async () => {
    const path = newPath();
    const { code, output } = await runTrust(path, { confirm: async () => false });
    expect(code).toBe(1);
    expect(output).toContain("Nothing recorded.");
    await expect(stat(path)).rejects.toThrow();
  });

  test("refuses when known_hosts holds a different key for the host, and leaves the file alone", async () => {
    const otherKey = await makeClientKey(dir, "ed25519");
    const wrongLine = `[127.0.0.1]:${sshd.port} ${(await readFile(`${otherKey}.pub`, "utf8")).trim()}`;
    const path = newPath();
    await writeFile(path, `# fleet\nweb09 ${sshd.hostPublicKey}\n${wrongLine}\n`, { mode: 0o640 });
    await chmod(path, 0o640);
    const before = await readFile(path, "utf8");
    const error = await runTrust(path, { assumeYes: true }).catch((caught: unknown) => caught);
    expect(String(error)).toContain("already holds other keys for it (ssh-ed25519 at line 3)");
    expect((error as { hint?: string }).hint).toContain("--replace");
    expect(await readFile(path, "utf8")).toBe(before);

    const { code, questions } = await runTrust(path, { replace: true });
    expect(code).toBe(0);
    expect(questions[0]).toContain("replace 1 recorded key(s) with 3 key(s)");
    expect(await readFile(path, "utf8")).toBe(
      `# fleet\nweb09 ${sshd.hostPublicKey}\n${sshd.knownHostsLines.join("\n")}\n`,
    );
    expect((await stat(path)).mode & 0o777).toBe(0o640);
  });

  test("will not replace a line that also covers other hosts", async () => {
    const otherKey = await makeClientKey(dir, "ed25519");
    const path = newPath();
    await writeFile(path, `* ${(await readFile(`${otherKey}.pub`, "utf8")).trim()}\n`, { mode: 0o600 });
    await expect(runTrust(path, { replace: true, assumeYes: true })).rejects.toThrow("Cannot replace line 1");
  });

  test("refuses a host that offers a revoked key", async () => {
    const path = newPath();
    await writeFile(path, `@revoked * ${sshd.hostPublicKeys.rsa}\n`, { mode: 0o600 });
    await expect(runTrust(path, { assumeYes: true })).rejects.toThrow("is marked @revoked");
  });
});

describe("appendKnownHosts", () => {
  test("appends to an existing file keeping its content and mode, and creates a new one as 0600", async () => {
    const existing = newPath();
    await writeFile(existing, "web01 ssh-ed25519 AAAA", { mode: 0o644 });
    await chmod(existing, 0o644);
    await appendKnownHosts(existing, ["web02 ssh-ed25519 BBBB"]);
    expect(await readFile(existing, "utf8")).toBe("web01 ssh-ed25519 AAAA\nweb02 ssh-ed25519 BBBB\n");
    expect((await stat(existing)).mode & 0o777).toBe(0o644);

    const created = join(dir, "new-dir", "known_hosts");
    await appendKnownHosts(created, ["web03 ssh-ed25519 CCCC"]);
    expect(await readFile(created, "utf8")).toBe("web03 ssh-ed25519 CCCC\n");
    expect((await stat(created)).mode & 0o777).toBe(0o600);
  });
});
