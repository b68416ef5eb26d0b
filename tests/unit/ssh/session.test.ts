// SftpSession against the harness's real OpenSSH sshd: strict host-key verification before any login
// attempt (hashed and [host]:port entries accepted; wrong, revoked and unknown keys refused), client
// key types and permissions, and the SFTP operations the pull uses, also inside an internal-sftp chroot.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { chmod, copyFile, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { BackupError } from "../../../mod/lib/errors.ts";
import { Logger } from "../../../mod/lib/log.ts";
import { sha256Fingerprint } from "../../../mod/ssh/known-hosts.ts";
import { isNoSuchFile, SftpSession, type SftpSessionOptions } from "../../../mod/ssh/session.ts";
import { runCommand } from "../../harness/process.ts";
import { type SshdHandle, startSshd } from "../../harness/sshd.ts";
import { makeTempDir, removeTempDir } from "../../harness/tmp.ts";
import { authorizeKey, blobOf, makeClientKey, sshdLog, writeKnownHosts } from "./fixtures.ts";

const logger = new Logger("test:ssh");
let dir: string;

beforeAll(async () => {
  dir = await makeTempDir("bkpctl-ssh-");
});
afterAll(async () => await removeTempDir(dir));

/** Connects to a harness sshd with its client key, overriding what a test varies. */
function connect(sshd: SshdHandle, overrides: Partial<SftpSessionOptions>): Promise<SftpSession> {
  return SftpSession.connect({
    host: sshd.host,
    port: sshd.port,
    username: sshd.user,
    privateKeyPath: sshd.privateKeyPath,
    knownHostsFile: "/nonexistent",
    readyTimeoutMs: 10_000,
    logger,
    ...overrides,
  });
}

/** Returns the rejection of a promise (failing the test when it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<BackupError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome)) {
    if (outcome.value instanceof SftpSession) await outcome.value.close();
    throw new Error("expected a rejection, got a result");
  }
  expect(outcome.error).toBeInstanceOf(BackupError);
  return outcome.error as BackupError;
}

/** Returns the sha256 of everything a stream yields. */
async function streamDigest(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(stream, hash);
  return hash.digest("hex");
}

describe("host-key verification against the harness sshd", () => {
  let sshd: SshdHandle;
  beforeAll(async () => {
    sshd = await startSshd({ extraHostKeyTypes: ["rsa", "ecdsa"] });
  }, 60_000);
  afterAll(async () => await sshd?.stop(), 30_000);

  test("a [127.0.0.1]:PORT entry is accepted and the login shows in the sshd log", async () => {
    const log = sshdLog(sshd);
    await log.mark();
    const session = await connect(sshd, {
      knownHostsFile: await writeKnownHosts(dir, [sshd.knownHostsLine]),
    });
    await session.close();
    expect(await log.sinceMark()).toContain(`Accepted publickey for ${sshd.user}`);
  });

  test("an entry hashed by ssh-keygen -H is accepted", async () => {
    const path = await writeKnownHosts(dir, [sshd.knownHostsLine]);
    await runCommand(["ssh-keygen", "-H", "-f", path]);
    expect(await readFile(path, "utf8")).not.toContain("127.0.0.1");
    const session = await connect(sshd, { knownHostsFile: path });
    expect((await session.list(sshd.remoteRoot)).map((entry) => entry.name)).toBeArray();
    await session.close();
  });

  test("an RSA-only entry is accepted: the client asks the server for its RSA key", async () => {
    const rsaLine = `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKeys.rsa}`;
    const session = await connect(sshd, { knownHostsFile: await writeKnownHosts(dir, [rsaLine]) });
    await session.close();
  });

  test("an ECDSA-only entry is accepted", async () => {
    const ecdsaLine = `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKeys.ecdsa}`;
    const session = await connect(sshd, { knownHostsFile: await writeKnownHosts(dir, [ecdsaLine]) });
    await session.close();
  });

  /** Asserts that sshd logged a connection but no authentication attempt of any kind. */
  function expectNoAuthentication(logged: string): void {
    expect(logged).toContain("Connection from 127.0.0.1");
    // the client hung up during key exchange (disconnect reason 3, KEY_EXCHANGE_FAILED)
    expect(logged).toMatch(/Received disconnect from 127\.0\.0\.1 port \d+:3: .*\[preauth\]/);
    expect(logged).not.toContain(sshd.user);
    expect(logged).not.toMatch(/publickey|Accepted|Failed|userauth|Invalid user/);
  }

  test("a wrong key is refused before authentication, naming host, verdict and fingerprint", async () => {
    const otherKey = await makeClientKey(dir, "ed25519");
    const otherLine = `[127.0.0.1]:${sshd.port} ${(await readFile(`${otherKey}.pub`, "utf8")).trim()}`;
    const log = sshdLog(sshd);
    await log.mark();
    const error = await rejectionOf(
      connect(sshd, { knownHostsFile: await writeKnownHosts(dir, [otherLine]) }),
    );
    expect(error.message).toContain(`"127.0.0.1:${sshd.port}"`);
    expect(error.message).toContain("host key mismatch");
    expect(error.message).toContain(sha256Fingerprint(blobOf(sshd.hostPublicKey)));
    expect(error.hint).toContain("backupctl server trust 127.0.0.1");
    expectNoAuthentication(await log.sinceMark());
  });

  test("a revoked key is refused before authentication although it is also listed as trusted", async () => {
    const log = sshdLog(sshd);
    await log.mark();
    const path = await writeKnownHosts(dir, [sshd.knownHostsLine, `@revoked ${sshd.knownHostsLine}`]);
    const error = await rejectionOf(connect(sshd, { knownHostsFile: path }));
    expect(error.message).toContain("host key revoked");
    expect(error.message).toContain(sha256Fingerprint(blobOf(sshd.hostPublicKey)));
    expectNoAuthentication(await log.sinceMark());
  });

  test("a host without an entry is refused before authentication, showing the key it offered", async () => {
    const log = sshdLog(sshd);
    await log.mark();
    const path = await writeKnownHosts(dir, [
      `[127.0.0.1]:1 ${sshd.hostPublicKey}`,
      `127.0.0.1 ${sshd.hostPublicKey}`,
    ]);
    const error = await rejectionOf(connect(sshd, { knownHostsFile: path }));
    expect(error.message).toContain("host key unknown");
    expect(error.message).toMatch(/SHA256:[A-Za-z0-9+/]{43}/);
    expect(error.hint).toContain("backupctl server trust 127.0.0.1");
    expectNoAuthentication(await log.sinceMark());
  });

  test("a missing known_hosts file is refused without even connecting", async () => {
    const log = sshdLog(sshd);
    await log.mark();
    const error = await rejectionOf(connect(sshd, { knownHostsFile: join(dir, "no_such_known_hosts") }));
    expect(error.message).toContain("does not exist");
    expect(error.hint).toContain("never trusted on first use");
    expect(await log.sinceMark()).not.toContain("Connection from");
  });

  test("the host is checked under its configured name when a separate address is dialled", async () => {
    const line = `[backup-client.test]:${sshd.port} ${sshd.hostPublicKey}`;
    const knownHostsFile = await writeKnownHosts(dir, [line]);
    const session = await connect(sshd, { host: "backup-client.test", address: "127.0.0.1", knownHostsFile });
    await session.close();
    const byAddress = await writeKnownHosts(dir, [sshd.knownHostsLine]);
    const error = await rejectionOf(
      connect(sshd, { host: "backup-client.test", address: "127.0.0.1", knownHostsFile: byAddress }),
    );
    expect(error.message).toContain("host key unknown");
  });

  for (const type of ["ed25519", "ecdsa", "rsa"] as const) {
    test(`logs in with an ${type} client key`, async () => {
      const key = await makeClientKey(dir, type);
      await authorizeKey(sshd, key);
      const knownHostsFile = await writeKnownHosts(dir, [sshd.knownHostsLine]);
      const session = await connect(sshd, { privateKeyPath: key, knownHostsFile });
      expect((await session.stat(sshd.remoteRoot)).isDirectory).toBe(true);
      await session.close();
    });
  }

  test("a client key that others can read is refused before connecting", async () => {
    const key = join(dir, "readable_key");
    await copyFile(sshd.privateKeyPath, key);
    await chmod(key, 0o644);
    const error = await rejectionOf(connect(sshd, { privateKeyPath: key }));
    expect(error.message).toBe(`Cannot use SSH key "${key}": mode 0644 allows other users to access it`);
    expect(error.hint).toBe(`run chmod 600 "${key}"`);
  });

  test("a client key protected by a passphrase is refused with a clear message", async () => {
    const key = await makeClientKey(dir, "ed25519", "secret passphrase");
    const error = await rejectionOf(connect(sshd, { privateKeyPath: key }));
    expect(error.message).toContain("is protected by a passphrase");
  });

  test("a server refusing the client key is reported as an authentication failure with a hint", async () => {
    const key = await makeClientKey(dir, "ed25519");
    const knownHostsFile = await writeKnownHosts(dir, [sshd.knownHostsLine]);
    const error = await rejectionOf(connect(sshd, { privateKeyPath: key, knownHostsFile }));
    expect(error.message).toContain("the server refused the SSH key");
    expect(error.hint).toContain("authorized_keys");
  });
});

describe("SFTP operations against the harness sshd", () => {
  let sshd: SshdHandle;
  let session: SftpSession;
  beforeAll(async () => {
    sshd = await startSshd();
    session = await connect(sshd, { knownHostsFile: await writeKnownHosts(dir, [sshd.knownHostsLine]) });
  }, 60_000);
  afterAll(async () => {
    await session?.close();
    await sshd?.stop();
  }, 30_000);

  test("stat, list, read and rename an archive", async () => {
    const data = randomBytes(5 * 1024 * 1024 + 17);
    const name = "web01-20261126_170000.tar.gz";
    await writeFile(join(sshd.root, name), data);
    const remote = `${sshd.remoteRoot}/${name}`;

    const attributes = await session.stat(remote);
    expect(attributes.size).toBe(data.length);
    expect(attributes.isFile).toBe(true);
    expect(attributes.mtime?.getTime()).toBe(
      Math.floor((await stat(join(sshd.root, name))).mtimeMs / 1000) * 1000,
    );

    const entries = await session.list(sshd.remoteRoot);
    expect(entries.find((entry) => entry.name === name)?.attributes.size).toBe(data.length);
    expect(entries.map((entry) => entry.name)).not.toContain(".");

    const expected = createHash("sha256").update(data).digest("hex");
    expect(await streamDigest(session.createReadStream(remote))).toBe(expected);
    const tail = createHash("sha256").update(data.subarray(1000)).digest("hex");
    expect(await streamDigest(session.createReadStream(remote, { start: 1000 }))).toBe(tail);

    await session.mkdir(`${sshd.remoteRoot}/done`);
    await session.rename(remote, `${sshd.remoteRoot}/done/${name}`);
    expect(await readdir(join(sshd.root, "done"))).toEqual([name]);
    await session.unlink(`${sshd.remoteRoot}/done/${name}`);
    expect(await readdir(join(sshd.root, "done"))).toEqual([]);
  });

  test("isNoSuchFile is true for a missing path and false for a permission error", async () => {
    const missing = await session.stat(`${sshd.remoteRoot}/.backup_archive_in_progress.lock`).catch((e) => e);
    expect(isNoSuchFile(missing)).toBe(true);
    expect(String(missing)).toContain("No such file");

    // a directory the account cannot enter: stat inside it fails with PERMISSION_DENIED
    await mkdir(join(sshd.root, "private"), { mode: 0o700 });
    const denied = await session.stat(`${sshd.remoteRoot}/private/lock`).catch((e) => e);
    expect(denied).toBeInstanceOf(BackupError);
    expect(isNoSuchFile(denied)).toBe(false);
    expect(isNoSuchFile(new Error("No such file"))).toBe(false);
    expect(isNoSuchFile(Object.assign(new Error("protocol error"), { code: 2 }))).toBe(false);
  });

  test("reading a missing file fails the stream with a no-such-file cause", async () => {
    await expect(streamDigest(session.createReadStream(`${sshd.remoteRoot}/absent.tar.gz`))).rejects.toThrow(
      "No such file",
    );
  });

  test("list refuses a directory with more entries than the cap", async () => {
    await mkdir(join(sshd.root, "many"));
    await Promise.all(
      Array.from({ length: 30 }, (_, index) => writeFile(join(sshd.root, "many", `f${index}`), "")),
    );
    expect(await session.list(`${sshd.remoteRoot}/many`)).toHaveLength(30);
    await expect(session.list(`${sshd.remoteRoot}/many`, { maxEntries: 10 })).rejects.toThrow(
      "more than 10 entries",
    );
    // the session stays usable after the refusal
    expect((await session.stat(`${sshd.remoteRoot}/many`)).isDirectory).toBe(true);
  });
});

describe("the internal-sftp chroot variant", () => {
  let sshd: SshdHandle;
  beforeAll(async () => {
    sshd = await startSshd({ chrootSftp: true });
  }, 60_000);
  afterAll(async () => await sshd?.stop(), 30_000);

  test("lists, stats, reads and renames inside the chroot over SFTP only", async () => {
    const data = randomBytes(300_000);
    await writeFile(join(sshd.root, "web02-20261126_170000.tar.gz"), data);
    const session = await connect(sshd, {
      knownHostsFile: await writeKnownHosts(dir, [sshd.knownHostsLine]),
    });
    try {
      expect((await session.list("/")).map((entry) => entry.name)).toEqual(["backups"]);
      const remote = "/backups/web02-20261126_170000.tar.gz";
      expect((await session.stat(remote)).size).toBe(data.length);
      const expected = createHash("sha256").update(data).digest("hex");
      expect(await streamDigest(session.createReadStream(remote))).toBe(expected);
      await session.rename(remote, "/backups/renamed.tar.gz");
      expect(await readdir(sshd.root)).toEqual(["renamed.tar.gz"]);
    } finally {
      await session.close();
    }
  });
});

describe("the ssh module", () => {
  test("opens no exec or shell channel and forwards nothing: SFTP is its only channel", async () => {
    const directory = join(import.meta.dir, "../../../mod/ssh");
    const found: string[] = [];
    for (const name of await readdir(directory)) {
      const source = await readFile(join(directory, name), "utf8");
      for (const match of source.matchAll(/\bclient\.(exec|shell|forward\w*|subsys|openssh_\w+)\(/g))
        found.push(`${name}: ${match[0]}`);
    }
    expect(found).toEqual([]);
  });
});
