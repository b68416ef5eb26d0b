// Catalogue #12 and #13: host-key verification and the least privilege of the server's key, against
// real loopback sshd instances. #12 runs `server pull` (the compiled binary) over a matrix of
// known_hosts files — plain, hashed, comma list and other-key-type entries must be accepted; a wrong,
// revoked or missing key and a missing file refused before user authentication. #13 uses an ssh2
// client in the test against the account confined to internal-sftp in a chroot (and a read-only
// `internal-sftp -R` variant): no command, no terminal, no forwarding; no writes with -R.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Client } from "ssh2";
import { runBinary } from "../e2e/binary.ts";
import { runSync } from "../e2e/fixtures.ts";
import {
  freePort,
  makeTempDir,
  removeTempDir,
  ServiceProcess,
  type SshdHandle,
  startSshd,
  waitUntil,
} from "../harness/index.ts";
import { openResults } from "./support/results.ts";
import {
  archiveTimestamp,
  createServerFixture,
  type HostSpec,
  placeArchive,
  type ServerFixture,
} from "./support/server-fixture.ts";
import { buildTarGz, manifestMember } from "./support/tarball.ts";

const results = openResults("B-host-keys");

let root: string;
let sshdBoth: SshdHandle;
let sshdEd25519: SshdHandle;
let sshdChroot: SshdHandle;
let readOnlySftp: { port: number; service: ServiceProcess } | undefined;
let server: ServerFixture;

/** Counts successful public-key logins in an sshd's log. */
function acceptedLogins(sshd: SshdHandle): number {
  const log = readFileSync(join(dirname(sshd.configPath), "sshd.log"), "utf8");
  return log.split("\n").filter((line) => line.includes("Accepted publickey")).length;
}

/** Writes a known_hosts file for one host and returns its path. */
function knownHosts(name: string, lines: string[]): string {
  const path = join(root, "known_hosts.d", name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${lines.join("\n")}\n`, { mode: 0o600 });
  return path;
}

/** A host on an sshd with its own known_hosts file. */
function hostOn(sshd: SshdHandle, hostname: string, knownHostsFile: string): HostSpec {
  return {
    hostname,
    port: sshd.port,
    sshUser: sshd.user,
    keyFile: sshd.privateKeyPath,
    remoteDir: sshd.remoteRoot,
    extra: { known_hosts_file: knownHostsFile, after_ingest: "keep" },
  };
}

/** Connects an ssh2 client as the test account (any host key accepted: the key is not under test here). */
async function connect(port: number, sshd: SshdHandle): Promise<Client> {
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once("ready", () => resolve());
    client.once("error", reject);
    client.connect({
      host: "127.0.0.1",
      port,
      username: sshd.user,
      privateKey: readFileSync(sshd.privateKeyPath),
      hostVerifier: () => true,
      readyTimeout: 10_000,
    });
  });
  return client;
}

/** Returns the error of a callback-style ssh2 request, or undefined when it succeeded. */
function outcomeOf(
  start: (done: (error: Error | undefined | null) => void) => void,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("no answer within 10 s"), 10_000);
    start((error) => {
      clearTimeout(timer);
      resolve(error ? error.message : undefined);
    });
  });
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-B12-");
  [sshdBoth, sshdEd25519, sshdChroot, server] = await Promise.all([
    startSshd({ extraHostKeyTypes: ["rsa"] }),
    startSshd(),
    startSshd({ chrootSftp: true }),
    createServerFixture(root),
  ]);
}, 120_000);

afterAll(async () => {
  await readOnlySftp?.service.stop();
  await Promise.all([sshdBoth?.stop(), sshdEd25519?.stop(), sshdChroot?.stop()]);
  if (root) await removeTempDir(root);
}, 60_000);

describe("host keys and the server's key", () => {
  results.caseTest(
    12,
    "plain, hashed, comma-list and other-key-type entries are accepted; a wrong, revoked or missing key and a missing known_hosts are refused before authentication, with the fingerprint the server presented",
    async () => {
      const port = sshdBoth.port;
      const ed25519 = sshdBoth.hostPublicKeys.ed25519 as string;
      const rsa = sshdBoth.hostPublicKeys.rsa as string;
      const hashedSource = knownHosts("hashed", [`[k-hashed]:${port} ${ed25519}`]);
      runSync(["ssh-keygen", "-q", "-H", "-f", hashedSource]);
      expect(readFileSync(hashedSource, "utf8").startsWith("|1|")).toBe(true);
      const accepted: HostSpec[] = [
        hostOn(sshdBoth, "k-plain", knownHosts("plain", [`[k-plain]:${port} ${ed25519}`])),
        hostOn(sshdBoth, "k-hashed", hashedSource),
        hostOn(sshdBoth, "k-list", knownHosts("list", [`[decoy]:${port},[k-list]:${port} ${ed25519}`])),
        hostOn(sshdBoth, "k-rsa-only", knownHosts("rsa-only", [`[k-rsa-only]:${port} ${rsa}`])),
      ];
      const refused: HostSpec[] = [
        hostOn(sshdBoth, "k-wrong", knownHosts("wrong", [`[k-wrong]:${port} ${sshdEd25519.hostPublicKey}`])),
        hostOn(
          sshdBoth,
          "k-revoked",
          knownHosts("revoked", [
            `@revoked [k-revoked]:${port} ${ed25519}`,
            `[k-revoked]:${port} ${ed25519}`,
          ]),
        ),
        hostOn(sshdBoth, "k-missing", knownHosts("missing", [`[somebody-else]:${port} ${ed25519}`])),
        hostOn(sshdBoth, "k-no-file", join(root, "known_hosts.d", "does-not-exist")),
        hostOn(
          sshdEd25519,
          "k-other-type",
          knownHosts("other-type", [`[k-other-type]:${sshdEd25519.port} ${rsa}`]),
        ),
      ];
      server.writeConfig([...accepted, ...refused]);
      const loginsBefore = [acceptedLogins(sshdBoth), acceptedLogins(sshdEd25519)];

      const result = await runBinary(["server", "pull", "--config-dir", server.configDir]);

      const errorOf = (host: HostSpec) => server.hostState(host.hostname)?.last_attempt?.error ?? "";
      const falseRejects = accepted.filter((host) => !/No complete archive/.test(errorOf(host)));
      // a false accept got past the host key: it listed the (empty) remote dir
      const falseAccepts = refused.filter(
        (host) =>
          server.hostState(host.hostname)?.last_attempt?.status !== "failed" ||
          /No complete archive/.test(errorOf(host)),
      );
      const loginsAfter = [acceptedLogins(sshdBoth), acceptedLogins(sshdEd25519)];
      results.figure(
        "host-keys.accepted",
        `${accepted.length - falseRejects.length}/${accepted.length}`,
        "plain, hashed, comma list, RSA-only entry for a host that also has ed25519",
      );
      results.figure(
        "host-keys.refused",
        `${refused.length - falseAccepts.length}/${refused.length}`,
        "wrong key, @revoked, no entry, no known_hosts file, only another host's RSA key",
      );
      results.figure(
        "host-keys.false-accepts",
        falseAccepts.length,
        falseAccepts.map((host) => `${host.hostname}: ${errorOf(host)}`).join("; "),
      );
      results.figure(
        "host-keys.false-rejects",
        falseRejects.length,
        falseRejects.map((host) => `${host.hostname}: ${errorOf(host)}`).join("; "),
      );
      results.figure(
        "host-keys.logins-by-refused-hosts",
        (loginsAfter[1] as number) -
          (loginsBefore[1] as number) +
          ((loginsAfter[0] as number) - (loginsBefore[0] as number) - accepted.length),
      );
      expect(falseAccepts.map((host) => `${host.hostname}: ${errorOf(host)}`)).toEqual([]);
      expect(falseRejects.map((host) => `${host.hostname}: ${errorOf(host)}`)).toEqual([]);
      // where the server presented a key, the refusal shows its fingerprint
      for (const host of refused.filter((entry) =>
        ["k-wrong", "k-revoked", "k-missing"].includes(entry.hostname),
      )) {
        expect(errorOf(host)).toMatch(/SHA256:/);
      }
      // refused hosts never got as far as authentication: only the accepted ones logged in
      expect(loginsAfter).toEqual([(loginsBefore[0] as number) + accepted.length, loginsBefore[1] as number]);
      expect(result.exitCode).toBe(1);
    },
  );

  results.caseTest(
    13,
    "the server's key on an account confined to internal-sftp in a chroot gets no command, no terminal and no forwarding; with internal-sftp -R no write, remove or rename either, and a pull with after_ingest: keep still works",
    async () => {
      // a read-only twin of the chroot sshd: same keys and chroot, ForceCommand internal-sftp -R
      const config = readFileSync(sshdChroot.configPath, "utf8");
      const port = await freePort();
      const readOnlyConfig = join(dirname(sshdChroot.configPath), "sshd_config_readonly");
      writeFileSync(
        readOnlyConfig,
        config
          .replace(/^Port \d+$/m, `Port ${port}`)
          .replace(/^PidFile .*$/m, `PidFile ${join(dirname(sshdChroot.configPath), "sshd-ro.pid")}`)
          .replace("ForceCommand internal-sftp", "ForceCommand internal-sftp -R"),
        { mode: 0o600 },
      );
      const logPath = join(dirname(sshdChroot.configPath), "sshd-ro.log");
      const service = ServiceProcess.start(["/usr/sbin/sshd", "-D", "-e", "-f", readOnlyConfig], {
        name: "sshd -R",
        logPath,
      });
      readOnlySftp = { port, service };
      await waitUntil(async () => readFileSync(logPath, "utf8").includes("Server listening"), {
        description: "sshd -R",
        timeoutMs: 20_000,
        service,
      });

      const name = `k-confined-${archiveTimestamp(new Date(Date.now() - 60_000))}.tar.gz`;
      placeArchive(
        sshdChroot.root,
        name,
        buildTarGz([manifestMember("k-confined"), { name: "./a.txt", data: "a\n" }]),
        { owner: { uid: sshdChroot.uid, gid: sshdChroot.gid } },
      );

      const refusals: Record<string, string | undefined> = {};
      for (const [label, targetPort] of [
        ["internal-sftp", sshdChroot.port],
        ["internal-sftp -R", port],
      ] as const) {
        const client = await connect(targetPort, sshdChroot);
        try {
          const commandOutput = await new Promise<string>((resolve) => {
            client.exec("id; touch /tmp/pwned-by-backup-key", (error, channel) => {
              if (error) return resolve(`refused: ${error.message}`);
              let output = "";
              channel.on("data", (chunk: Buffer) => {
                output += chunk.toString("latin1");
              });
              channel.stderr.on("data", (chunk: Buffer) => {
                output += chunk.toString("latin1");
              });
              channel.on("close", () => resolve(output));
              setTimeout(() => channel.close(), 2000);
            });
          });
          refusals[`${label}: exec id`] = commandOutput.includes("uid=")
            ? undefined
            : "no shell: the command became internal-sftp";
          refusals[`${label}: pty`] = await outcomeOf((done) =>
            client.shell({ term: "xterm" }, (error, channel) => {
              channel?.close();
              done(error);
            }),
          );
          refusals[`${label}: port forwarding`] = await outcomeOf((done) =>
            client.forwardOut("127.0.0.1", 0, "127.0.0.1", sshdChroot.port, (error, channel) => {
              channel?.close();
              done(error);
            }),
          );
          if (label === "internal-sftp -R") {
            const sftp = await new Promise<import("ssh2").SFTPWrapper>((resolve, reject) =>
              client.sftp((error, session) => (error ? reject(error) : resolve(session))),
            );
            refusals[`${label}: write`] = await outcomeOf((done) =>
              sftp.open("/backups/planted", "w", (error, handle) => {
                if (handle) sftp.close(handle, () => undefined);
                done(error);
              }),
            );
            refusals[`${label}: remove`] = await outcomeOf((done) => sftp.unlink(`/backups/${name}`, done));
            refusals[`${label}: rename`] = await outcomeOf((done) =>
              sftp.rename(`/backups/${name}`, "/backups/moved", done),
            );
            refusals[`${label}: mkdir`] = await outcomeOf((done) => sftp.mkdir("/backups/done", done));
          }
        } finally {
          client.end();
        }
      }
      const allowed = Object.entries(refusals)
        .filter(([, reason]) => reason === undefined)
        .map(([request]) => request);
      results.figure(
        "least-privilege.requests-refused",
        `${Object.keys(refusals).length - allowed.length}/${Object.keys(refusals).length}`,
        Object.entries(refusals)
          .map(([request, reason]) => `${request}: ${reason ?? "ALLOWED"}`)
          .join("; "),
      );
      expect(allowed).toEqual([]);
      expect(readFileSync(join(sshdChroot.root, name)).length).toBeGreaterThan(0);

      // the pull needs nothing more than read-only SFTP when archives are kept on the client
      writeFileSync(
        join(root, "known_hosts.d", "confined"),
        `[k-confined]:${port} ${sshdChroot.hostPublicKey}\n`,
        { mode: 0o600 },
      );
      await server.createRepository("k-confined");
      server.writeConfig([
        { ...hostOn(sshdChroot, "k-confined", join(root, "known_hosts.d", "confined")), port },
      ]);
      const pulled = await runBinary(["server", "pull", "--config-dir", server.configDir]);
      expect(pulled.exitCode).toBe(0);
      expect(server.snapshots("k-confined")).toHaveLength(1);
    },
  );
});
