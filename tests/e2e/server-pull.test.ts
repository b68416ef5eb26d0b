// End-to-end: two clients (one confined to internal-sftp in a chroot) make archives with
// `backupctl client run`; `backupctl server pull` fetches them over real OpenSSH into real restic
// repositories. Also: nothing new, host keys, the client lock, and a tampered archive.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  makeTempDir,
  removeTempDir,
  type SmtpHandle,
  type SshdHandle,
  startMonitor,
  startSmtp,
  startSshd,
} from "../harness/index.ts";
import { runBinary } from "./binary.ts";
import { runSync, writeConfigFile, writeService } from "./fixtures.ts";

let root: string;
let smtp: SmtpHandle;
const clients: { name: string; sshd: SshdHandle; configDir: string }[] = [];
let serverConfigDir: string;
let repositoryRoot: string;
let tempBase: string;
let stateDir: string;
let knownHosts: string;
const password = "correct horse battery staple";

/** Restic with the test repositories' password. */
function restic(host: string, args: string[]): string {
  return runSync(["restic", "--repo", join(repositoryRoot, host), "--no-cache", ...args], {
    env: { RESTIC_PASSWORD_FILE: join(root, "restic.pass") },
  });
}

/** Snapshots of a host's repository. */
function snapshots(
  host: string,
): { id: string; tags?: string[]; hostname: string; paths: string[]; time: string }[] {
  if (!existsSync(join(repositoryRoot, host))) return [];
  return JSON.parse(restic(host, ["snapshots", "--json"]));
}

/** A listing of a tree with what a restore must keep: type, mode, owner, size, mtime, link target. */
function describeTree(directory: string): string[] {
  return runSync(["find", directory, "-mindepth", "1", "-printf", "%P %y %m %U:%G %s %T@ %l\\n"])
    .split("\n")
    .filter(Boolean)
    .map((line) => line.replace(/ (\d+)\.\d+ /, " $1 ")) // whole seconds: GNU tar keeps no more
    .sort();
}

/** Writes server_config.yml for both clients. */
function writeServerConfig(
  extra: { hosts?: Record<string, unknown>; global?: Record<string, unknown> } = {},
): void {
  writeConfigFile(serverConfigDir, "server_config.yml", {
    global: {
      local_temp_base_dir: tempBase,
      state_dir: stateDir,
      known_hosts_file: knownHosts,
      admin_email: "admin@example.org",
      lock_check_retries: 1,
      lock_check_delay: "1s",
      mail: { transport: "smtp", smtp: { host: "127.0.0.1", port: smtp.port, starttls: "disabled" } },
      ...extra.global,
    },
    restic: {
      repository_root: repositoryRoot,
      password_file: join(root, "restic.pass"),
      init_missing_repos: true,
    },
    hosts: clients.map(({ name, sshd }) => ({
      hostname: name,
      address: "127.0.0.1",
      port: sshd.port,
      ssh_user: sshd.user,
      ssh_key_file: sshd.privateKeyPath,
      remote_tar_dir: sshd.remoteRoot,
      ...extra.hosts,
    })),
  });
}

/** Writes known_hosts: client1 plain, client2 hashed (ssh-keygen -H). */
function writeKnownHosts(keyFor: (client: { name: string; sshd: SshdHandle }) => string): void {
  const lines = clients.map((client) => `[${client.name}]:${client.sshd.port} ${keyFor(client)}`);
  writeFileSync(knownHosts, `${lines.join("\n")}\n`, { mode: 0o600 });
  const hashedFile = join(root, "hashed");
  writeFileSync(hashedFile, `${lines[1]}\n`, { mode: 0o600 });
  runSync(["ssh-keygen", "-q", "-H", "-f", hashedFile]);
  const hashed = runSync(["cat", hashedFile]).trim();
  expect(hashed.startsWith("|1|")).toBe(true);
  writeFileSync(knownHosts, `${lines[0]}\n${hashed}\n`, { mode: 0o600 });
}

/** Runs `server pull` with the test's server config and extra arguments. */
function serverPull(...args: string[]) {
  return runBinary(["server", "pull", "--config-dir", serverConfigDir, ...args]);
}

/** Runs `client run` for one client; returns the exit status. */
async function clientRun(client: { configDir: string }): Promise<number> {
  const result = await runBinary(["client", "run", "--config-dir", client.configDir]);
  if (result.exitCode !== 0) console.error(result.stderr);
  return result.exitCode;
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-e2e-pull-");
  serverConfigDir = join(root, "server-etc");
  repositoryRoot = join(root, "repositories");
  tempBase = join(root, "work");
  stateDir = join(root, "server-state");
  knownHosts = join(root, "known_hosts");
  mkdirSync(repositoryRoot);
  writeFileSync(join(root, "restic.pass"), password, { mode: 0o600 });
  const [sshd1, sshd2, capture] = await Promise.all([
    startSshd(),
    startSshd({ chrootSftp: true }),
    startSmtp(),
  ]);
  smtp = capture;
  clients.push({ name: "client1", sshd: sshd1, configDir: join(root, "client1-etc") });
  clients.push({ name: "client2", sshd: sshd2, configDir: join(root, "client2-etc") });

  // a source tree with what a restore must keep: owners, modes, symlinks, mtimes
  const source = join(root, "source");
  mkdirSync(join(source, "app", "conf"), { recursive: true });
  writeFileSync(join(source, "app", "conf", "app.ini"), "[app]\nname=demo\n");
  writeFileSync(join(source, "app", "secret.key"), "k", { mode: 0o600 });
  writeFileSync(join(source, "app", "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
  chownSync(join(source, "app", "conf", "app.ini"), 1234, 4321);
  symlinkSync("conf/app.ini", join(source, "app", "current.ini"));
  utimesSync(
    join(source, "app", "run.sh"),
    new Date("2020-01-02T03:04:05Z"),
    new Date("2020-01-02T03:04:05Z"),
  );

  for (const client of clients) {
    writeConfigFile(client.configDir, "client_config.yml", {
      hostname: client.name,
      base_backup_dir: client.sshd.root,
      backup_user: client.sshd.user,
      backup_group: String(client.sshd.gid),
      state_dir: join(root, `${client.name}-state`),
      min_free_space_mb: 1,
    });
    writeService(client.configDir, "files", "app", { files: { paths: [join(source, "app")] } });
  }
  writeKnownHosts((client) => client.sshd.hostPublicKey);
  writeServerConfig();
}, 120_000);

afterAll(async () => {
  await Promise.all([...clients.map((client) => client.sshd.stop()), smtp?.stop()]);
  if (root) await removeTempDir(root);
});

describe("server pull", () => {
  test("stores each client's archive as a snapshot that restores to the staged data, then moves the archive to done/", async () => {
    for (const client of clients) expect(await clientRun(client)).toBe(0);
    const result = await serverPull();
    expect(result.stderr).not.toContain("ERROR");
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("client1");

    for (const client of clients) {
      const [snapshot, ...more] = snapshots(client.name);
      expect(more).toHaveLength(0);
      expect(snapshot?.hostname).toBe(client.name);
      expect(snapshot?.tags).toContain("backupctl");
      const done = readdirSync(join(client.sshd.root, "done")).sort();
      const archive = done.find((name) => name.endsWith(".tar.gz")) as string;
      expect(done).toEqual([archive, `${archive}.sha256`].sort());
      const timestamp = archive.slice(client.name.length + 1, client.name.length + 16);
      expect(snapshot?.tags).toContain(timestamp);
      expect(readdirSync(client.sshd.root).filter((name) => name.endsWith(".tar.gz"))).toEqual([]);

      // the archive as the client staged it, against the snapshot restored by restic
      const staged = join(root, `staged-${client.name}`);
      mkdirSync(staged);
      runSync(["tar", "-xpf", join(client.sshd.root, "done", archive), "--numeric-owner", "-C", staged]);
      const restored = join(root, `restored-${client.name}`);
      restic(client.name, ["restore", "latest", "--target", restored]);
      const restoredData = join(restored, tempBase, client.name, "data");
      expect(describeTree(restoredData)).toEqual(describeTree(staged));
      expect(runSync(["diff", "-r", "--no-dereference", staged, restoredData])).toBe("");
    }
    expect(readdirSync(tempBase).flatMap((host) => readdirSync(join(tempBase, host)))).toEqual([]);
    const mails = await smtp.waitForMessages(1, 10_000);
    expect(mails.at(-1)?.subject).toContain("all 2 hosts ok");
  }, 120_000);

  test("a second pull with no new archive makes no snapshot and reports it", async () => {
    const result = await serverPull();
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("No new archive");
    for (const client of clients) expect(snapshots(client.name)).toHaveLength(1);
  }, 60_000);

  test("an archive stored before but back on the client is recognised while its download starts: the download stops, no second snapshot, nothing unpacked left; with after_ingest keep nothing is fetched", async () => {
    const client = clients[0] as (typeof clients)[number];
    const doneDir = join(client.sshd.root, "done");
    const stored = readdirSync(doneDir).filter((name) => name.startsWith(`${client.name}-`));
    // as if the move after the ingest had been lost: the stored archive is the newest again
    for (const name of stored) runSync(["cp", "-p", join(doneDir, name), join(client.sshd.root, name)]);
    try {
      const pull = ["--host", client.name, "--verbose"];
      const moving = await serverPull(...pull);
      expect(moving.exitCode).toBe(0);
      expect(moving.stderr).toContain("Fetching");
      expect(moving.stderr).toContain("is already stored");
      expect(snapshots(client.name)).toHaveLength(1);
      expect(readdirSync(join(tempBase, client.name))).toEqual([]);

      writeServerConfig({ hosts: { after_ingest: "keep" } });
      const keeping = await serverPull(...pull);
      expect(keeping.exitCode).toBe(0);
      expect(keeping.stderr).toContain("is already stored");
      expect(keeping.stderr).not.toContain("Fetching");
      expect(snapshots(client.name)).toHaveLength(1);
    } finally {
      writeServerConfig();
      for (const name of stored) rmSync(join(client.sshd.root, name), { force: true });
    }
  }, 60_000);

  test("a wrong host key for one client is refused before login; the other client is still backed up (exit 3)", async () => {
    for (const client of clients) expect(await clientRun(client)).toBe(0);
    const other = clients[0] as (typeof clients)[number];
    writeKnownHosts((client) =>
      client.name === "client2" ? other.sshd.hostPublicKey : client.sshd.hostPublicKey,
    );
    try {
      const result = await serverPull();
      expect(result.exitCode).toBe(3);
      expect(result.stderr).toMatch(/client2.*SHA256:/s);
      expect(snapshots("client1")).toHaveLength(2);
      expect(snapshots("client2")).toHaveLength(1);
    } finally {
      writeKnownHosts((client) => client.sshd.hostPublicKey);
    }
  }, 120_000);

  test("a client lock is retried, then the host is skipped with a warning mail", async () => {
    const client = clients[0] as (typeof clients)[number];
    const lock = join(client.sshd.root, ".backup_archive_in_progress.lock");
    mkdirSync(lock);
    const mailsBefore = smtp.messages.length;
    try {
      const result = await serverPull("--host", "client1");
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain("writing an archive");
      const mails = await smtp.waitForMessages(mailsBefore + 2, 10_000);
      expect(mails.slice(mailsBefore).some((mail) => mail.subject.includes("client1 - Backup SKIPPED"))).toBe(
        true,
      );
      // an old lock raises a stale-lock alert
      utimesSync(lock, new Date("2026-01-01T00:00:00Z"), new Date("2026-01-01T00:00:00Z"));
      const stale = await serverPull("--host", "client1");
      expect(stale.exitCode).toBe(1);
      const staleMails = await smtp.waitForMessages(mailsBefore + 4, 10_000);
      expect(
        staleMails.slice(mailsBefore + 2).some((mail) => mail.text.includes("stale lock on client1")),
      ).toBe(true);
    } finally {
      rmdirSync(lock);
    }
  }, 60_000);

  test("an archive whose sidecar does not match fails the host: no snapshot, nothing unpacked left", async () => {
    const client = clients[0] as (typeof clients)[number];
    await Bun.sleep(1100);
    expect(await clientRun(client)).toBe(0);
    const archive = readdirSync(client.sshd.root).find((name) => name.endsWith(".tar.gz")) as string;
    const sidecar = join(client.sshd.root, `${archive}.sha256`);
    writeFileSync(sidecar, `${"0".repeat(64)}  ${archive}\n`);
    const before = snapshots("client1").length;
    const result = await serverPull("--host", "client1");
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/sha256|checksum/i);
    expect(snapshots("client1")).toHaveLength(before);
    expect(existsSync(join(tempBase, "client1", "data"))).toBe(false);
    expect(existsSync(join(client.sshd.root, archive))).toBe(true);
  }, 60_000);

  test("failed pulls in a row are counted in the failure mail and in server status; the next good pull mails RECOVERED to the host's admin", async () => {
    const client = clients[0] as (typeof clients)[number];
    const statePath = join(stateDir, "server", "hosts", `${client.name}.json`);
    const pull = async (expected: number) => {
      const result = await serverPull("--host", client.name);
      expect(result.exitCode).toBe(expected);
    };
    // a healthy record to start from
    await Bun.sleep(1100);
    expect(await clientRun(client)).toBe(0);
    await pull(0);
    expect(JSON.parse(readFileSync(statePath, "utf8")).failing_since).toBeUndefined();

    // two failed pulls: the newest archive's sidecar does not match
    await Bun.sleep(1100);
    expect(await clientRun(client)).toBe(0);
    const archive = readdirSync(client.sshd.root)
      .filter((name) => name.endsWith(".tar.gz"))
      .sort()
      .at(-1) as string;
    writeFileSync(join(client.sshd.root, `${archive}.sha256`), `${"0".repeat(64)}  ${archive}\n`);
    const mailsBefore = smtp.messages.length;
    await pull(1);
    await pull(1);
    const failureMails = (await smtp.waitForMessages(mailsBefore + 4, 10_000))
      .slice(mailsBefore)
      .filter((mail) => mail.subject.includes(`${client.name} - Backup FAILED`));
    expect(failureMails).toHaveLength(2);
    expect(failureMails[0]?.text).not.toContain("Failing since");
    expect(failureMails[1]?.text).toMatch(/Failing since \S+ \([^)]*ago\), 2 pulls in a row/);
    expect(failureMails[1]?.text).toMatch(/Last snapshot stored: \S+ \([^)]*ago\)/);
    const status = await runBinary(["server", "status", "--json", "--config-dir", serverConfigDir]);
    const row = JSON.parse(status.stdout).hosts.find((host: { host: string }) => host.host === client.name);
    expect(row.failed_attempts).toBe(2);
    expect(row.health_text).toMatch(/^failing since \S+ \(2 pulls in a row\)$/);

    // a newer, good archive: the host recovers
    await Bun.sleep(1100);
    expect(await clientRun(client)).toBe(0);
    const recoveredBefore = smtp.messages.length;
    await pull(0);
    const mails = (await smtp.waitForMessages(recoveredBefore + 2, 10_000)).slice(recoveredBefore);
    const recovery = mails.find((mail) => mail.subject.includes(`${client.name} - Backup RECOVERED`));
    expect(recovery?.to).toContain("admin@example.org");
    expect(recovery?.text).toMatch(/Failed since \S+ \([^)]*ago\), 2 pulls in a row, until this pull/);
    expect(mails.find((mail) => mail.subject.includes("Backup summary"))?.subject).toContain("1 recovered");
    const state = JSON.parse(readFileSync(statePath, "utf8"));
    expect(state.failing_since).toBeUndefined();
    expect(state.failed_attempts).toBeUndefined();
  }, 120_000);

  test("with global.ping, a pull pings start and success, and a pull with a failed host start and failure", async () => {
    const monitor = startMonitor();
    const base = monitor.url("/pull-check");
    writeServerConfig({
      global: { ping: { start_url: `${base}/start`, success_url: base, failure_url: `${base}/fail` } },
    });
    try {
      const upToDate = await serverPull("--host", "client2");
      expect(upToDate.exitCode).toBe(0);
      expect(monitor.requests).toEqual(["GET /pull-check/start", "GET /pull-check"]);
      // a client whose host key no longer matches fails
      writeKnownHosts(
        () => "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbxJ8N5mM3fJc8mZ3Yp5l6yQmYxqH4nJ3QmYxqH4nJ3",
      );
      const failed = await serverPull("--host", "client2");
      expect(failed.exitCode).toBe(1);
      expect(monitor.requests.slice(2)).toEqual(["GET /pull-check/start", "GET /pull-check/fail"]);
    } finally {
      monitor.stop();
      writeKnownHosts((client) => client.sshd.hostPublicKey);
      writeServerConfig();
    }
  }, 60_000);

  test("with after_ingest delete, a pull that finds nothing new is up to date by the server's own record, not a failure; with nothing ever stored it still fails", async () => {
    const client = clients[1] as (typeof clients)[number];
    const doneDir = join(client.sshd.root, "done");
    // only what this test stores: no done/ to fall back on, no older archive left by the tests above
    for (const name of readdirSync(doneDir)) rmSync(join(doneDir, name));
    for (const name of readdirSync(client.sshd.root).filter((entry) => entry.includes(".tar."))) {
      rmSync(join(client.sshd.root, name));
    }
    writeServerConfig({ hosts: { after_ingest: "delete" } });
    try {
      expect(await clientRun(client)).toBe(0);
      const pull = ["--host", client.name];
      const storing = await serverPull(...pull);
      expect(storing.exitCode).toBe(0);
      expect(readdirSync(client.sshd.root).filter((name) => name.includes(".tar."))).toEqual([]);
      const stored = JSON.parse(
        readFileSync(join(stateDir, "server", "hosts", `${client.name}.json`), "utf8"),
      );

      const again = await serverPull(...pull);
      expect(again.exitCode).toBe(0);
      expect(again.stderr).toContain(`No new archive: the newest, "${stored.last_success.archive}"`);
      expect(again.stderr).toContain("is gone from the client (after_ingest: delete)");
      const state = JSON.parse(
        readFileSync(join(stateDir, "server", "hosts", `${client.name}.json`), "utf8"),
      );
      expect(state.last_attempt.status).toBe("up-to-date");
      expect(state.last_success.snapshot_id).toBe(stored.last_success.snapshot_id);

      // the record is all it goes by: without it, nothing on the client is still a failure
      rmSync(join(stateDir, "server", "hosts", `${client.name}.json`));
      const unknown = await serverPull(...pull);
      expect(unknown.exitCode).not.toBe(0);
      expect(unknown.stderr).toContain(`No complete archive of "${client.name}"`);
    } finally {
      writeServerConfig();
    }
  }, 120_000);

  test("a host whose unpack would not fit in local_temp_base_dir beyond min_free_space_mb fails before its download: the archive stays on the client", async () => {
    const client = clients[0] as (typeof clients)[number];
    expect(await clientRun(client)).toBe(0);
    const before = snapshots(client.name).length;
    // 100 TiB to keep free: more than any test machine has
    writeServerConfig({ global: { min_free_space_mb: 100 * 1024 * 1024 } });
    try {
      const result = await serverPull("--host", client.name);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain(
        `Not enough free space in "${tempBase}" for unpacking "${client.name}-`,
      );
      expect(result.stderr).toContain("global.min_free_space_mb");
      expect(result.stderr).not.toContain("Fetching");
      expect(snapshots(client.name)).toHaveLength(before);
      expect(readdirSync(client.sshd.root).some((name) => name.endsWith(".tar.gz"))).toBe(true);
    } finally {
      writeServerConfig();
    }
  }, 120_000);

  test("two hosts pulled at once whose unpacks fit the unpack directory only one at a time: the second waits for the first's room, and both are stored", async () => {
    // a 64 MiB tmpfs as local_temp_base_dir, so free space is exact; 20 MiB of random data per client
    const unpackBase = join(root, "small-work");
    mkdirSync(unpackBase, { mode: 0o700 });
    runSync(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", unpackBase]);
    const big = join(root, "source", "app", "big.bin");
    writeFileSync(big, randomBytes(20 * 1024 * 1024));
    try {
      for (const client of clients) expect(await clientRun(client)).toBe(0);
      const before = clients.map((client) => snapshots(client.name).length);
      // each estimate (its archive, ~20 MiB) fits beside 30 MiB kept free; two do not
      writeServerConfig({
        global: { local_temp_base_dir: unpackBase, min_free_space_mb: 30, concurrency: 2 },
      });
      const result = await serverPull();
      expect(result.exitCode).toBe(0);
      expect(result.stderr).toContain(`Waiting for room in "${unpackBase}" for unpacking "client`);
      expect(result.stderr).toMatch(/: 6\d MiB free, 2\d MiB of it reserved by hosts unpacking now, /);
      expect(clients.map((client) => snapshots(client.name).length)).toEqual(
        before.map((count) => count + 1),
      );
      expect(readdirSync(unpackBase).flatMap((host) => readdirSync(join(unpackBase, host)))).toEqual([]);
    } finally {
      rmSync(big, { force: true });
      runSync(["umount", unpackBase]);
      writeServerConfig();
    }
  }, 180_000);

  test("server history lists a host's recorded pulls, newest last, as a table or JSON", async () => {
    const state = JSON.parse(readFileSync(join(stateDir, "server", "hosts", "client1.json"), "utf8"));
    const json = await runBinary(["server", "history", "client1", "--json", "--config-dir", serverConfigDir]);
    expect(json.exitCode).toBe(0);
    const attempts = JSON.parse(json.stdout) as { status: string; started_at: string }[];
    // the tests above failed, skipped and stored client1 several times
    expect(attempts.length).toBeGreaterThan(5);
    expect(attempts.at(-1)).toEqual(state.last_attempt);
    expect(new Set(attempts.map((attempt) => attempt.status))).toEqual(
      new Set(["ok", "up-to-date", "locked", "failed"]),
    );
    const sorted = [...attempts].sort((left, right) => left.started_at.localeCompare(right.started_at));
    expect(attempts).toEqual(sorted);

    const table = await runBinary([
      "server",
      "history",
      "client1",
      "--limit",
      "2",
      "--config-dir",
      serverConfigDir,
    ]);
    expect(table.exitCode).toBe(0);
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^started \(UTC\)\s+status\s+archive/);
    expect(lines).toHaveLength(4);

    const unknown = await runBinary(["server", "history", "nosuchhost", "--config-dir", serverConfigDir]);
    expect(unknown.exitCode).toBe(2);
    const badLimit = await runBinary([
      "server",
      "history",
      "client1",
      "--limit",
      "0",
      "--config-dir",
      serverConfigDir,
    ]);
    expect(badLimit.exitCode).toBe(2);
    expect(badLimit.stderr).toContain("must be a whole number of at least 1");
  }, 60_000);
});
