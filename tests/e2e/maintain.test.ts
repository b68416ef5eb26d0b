// End-to-end: `backupctl maintain` through the compiled binary against real restic repositories.
// Snapshots are made with restic directly, the way server pull stores an archive (the stable path
// `<local_temp_base_dir>/<host>/data`, `--host`, `--tag backupctl --tag <YYYYMMDD_HHMMSS>`, `--time`),
// instead of ten full client runs and pulls each: what maintain sees is the same. restic_cmd is a
// wrapper that logs every restic call, so the tests observe exactly what maintain asked restic to do.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  makeTempDir,
  type ResticHandle,
  removeTempDir,
  type SmtpHandle,
  startMonitor,
  startRestic,
  startSmtp,
} from "../harness/index.ts";
import { binaryPath, runBinary } from "./binary.ts";
import { writeConfigFile } from "./fixtures.ts";

const hour = 3_600_000;
const day = 24 * hour;

let root: string;
let smtp: SmtpHandle;
const repositories: ResticHandle[] = [];
let fleetNumber = 0;

/** One server configuration with its hosts' repositories, state dir and restic call log. */
interface Fleet {
  configDir: string;
  stateDir: string;
  workDir: string;
  callLog: string;
  repositories: Record<string, ResticHandle>;
}

/** A host of a fleet: its name, its maintenance override and other host keys. */
interface FleetHost {
  name: string;
  maintenance?: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

/** Creates a fleet: a repository per host (copies of the harness template), a restic wrapper, the config. */
async function makeFleet(
  hosts: FleetHost[],
  options: { maintenance?: Record<string, unknown>; global?: Record<string, unknown> } = {},
): Promise<Fleet> {
  const dir = join(root, `fleet-${++fleetNumber}`);
  mkdirSync(dir, { recursive: true });
  const fleet: Fleet = {
    configDir: join(dir, "etc"),
    stateDir: join(dir, "state"),
    workDir: join(dir, "work"),
    callLog: join(dir, "restic-calls.log"),
    repositories: {},
  };
  const wrapper = join(dir, "restic-logged");
  // backupctl names the repository in RESTIC_REPOSITORY, never in argv: the log line shows both
  writeFileSync(
    wrapper,
    `#!/bin/sh\nprintf '%s\\n' "--repo=$RESTIC_REPOSITORY $*" >> '${fleet.callLog}'\nexec restic "$@"\n`,
  );
  chmodSync(wrapper, 0o755);
  const keyFile = join(dir, "id_ed25519");
  writeFileSync(keyFile, "not used by maintain\n", { mode: 0o600 });
  for (const host of hosts) {
    const repository = await startRestic();
    repositories.push(repository);
    fleet.repositories[host.name] = repository;
  }
  writeConfigFile(fleet.configDir, "server_config.yml", {
    global: {
      local_temp_base_dir: fleet.workDir,
      state_dir: fleet.stateDir,
      admin_email: "admin@example.org",
      hostname: "backup01",
      mail: { transport: "smtp", smtp: { host: "127.0.0.1", port: smtp.port, starttls: "disabled" } },
      ...options.global,
    },
    restic: {
      password_file: (fleet.repositories[hosts[0]?.name as string] as ResticHandle).passwordFile,
      restic_cmd: wrapper,
      maintenance: { keep_last: 1, ...options.maintenance },
    },
    hosts: hosts.map((host) => ({
      hostname: host.name,
      ssh_user: "backup",
      ssh_key_file: keyFile,
      repository: fleet.repositories[host.name]?.repository,
      password_file: fleet.repositories[host.name]?.passwordFile,
      ...(host.maintenance ? { maintenance: host.maintenance } : {}),
      ...host.extra,
    })),
  });
  return fleet;
}

/** Returns the archive timestamp server pull tags a snapshot with. */
function archiveTimestamp(time: Date): string {
  return time.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "_");
}

/** Returns the content of the changing file in a host's n-th snapshot (all but the newest share index 0's). */
function contentOf(host: string, index: number): string {
  return `snapshot ${index} of ${host}\n`;
}

/** Stores one "pull" per time as server pull does: same path, host, backupctl + timestamp (+ partial) tags, archive time. The newest holds content of its own; the others run three at a time (restic allows concurrent backups). */
async function addSnapshots(
  fleet: Fleet,
  host: string,
  times: Date[],
  options: { partialFrom?: number } = {},
): Promise<void> {
  const repository = fleet.repositories[host] as ResticHandle;
  const data = join(fleet.workDir, host, "data");
  mkdirSync(join(data, "files", "app"), { recursive: true });
  writeFileSync(join(data, "manifest.json"), `{"host":"${host}"}\n`);
  // snapshots from index partialFrom on are tagged "partial", as server pull tags a client's partial archive
  const isPartial = (time: Date) =>
    options.partialFrom !== undefined && times.indexOf(time) >= options.partialFrom;
  const backup = (time: Date) =>
    repository.restic(
      [
        "backup",
        "--quiet",
        `--host=${host}`,
        "--tag=backupctl",
        `--tag=${archiveTimestamp(time)}`,
        ...(isPartial(time) ? ["--tag=partial"] : []),
        `--time=${time.toISOString().slice(0, 19).replace("T", " ")}`,
        "--",
        data,
      ],
      // restic reads --time in the local zone; server pull writes it in UTC
      { env: { TZ: "UTC" } },
    );
  const older = times.slice(0, -1);
  writeFileSync(join(data, "files", "app", "counter.txt"), contentOf(host, 0));
  for (let start = 0; start < older.length; start += 3) {
    await Promise.all(older.slice(start, start + 3).map(backup));
  }
  const newest = times.at(-1);
  if (newest === undefined) return;
  writeFileSync(join(data, "files", "app", "counter.txt"), contentOf(host, times.length - 1));
  await backup(newest);
}

/** Returns the times of count pulls, one hour apart, the newest newestAgoMs ago. */
function pullTimes(count: number, newestAgoMs = hour): Date[] {
  const newest = Date.now() - newestAgoMs;
  return Array.from({ length: count }, (_, index) => new Date(newest - (count - 1 - index) * hour));
}

/** Returns the number of snapshots in a host's repository: its files under snapshots/ (no key to derive). */
async function snapshotCount(fleet: Fleet, host: string): Promise<number> {
  return readdirSync(join((fleet.repositories[host] as ResticHandle).repository, "snapshots")).length;
}

/** Returns the restic calls the wrapper logged, one argv line each. */
function resticCalls(fleet: Fleet): string[] {
  return existsSync(fleet.callLog) ? readFileSync(fleet.callLog, "utf8").split("\n").filter(Boolean) : [];
}

/** Returns the calls of one subcommand for one repository. */
function callsOf(fleet: Fleet, host: string, subcommand: string): string[] {
  const repository = (fleet.repositories[host] as ResticHandle).repository;
  return resticCalls(fleet).filter(
    (call) => call.includes(`--repo=${repository} `) && call.split(" ").includes(subcommand),
  );
}

/** Runs maintain with a fleet's config. */
function maintain(fleet: Fleet, args: string[] = []) {
  return runBinary(["maintain", "--config-dir", fleet.configDir, ...args]);
}

/** Reads a host's maintain state file. */
function maintainState(
  fleet: Fleet,
  host: string,
): { last_run: Record<string, unknown>; read_data_subset?: unknown } {
  return JSON.parse(readFileSync(join(fleet.stateDir, "server", "maintain", `${host}.json`), "utf8"));
}

/** Starts `flock` holding a lock file and resolves once it holds it; killing the holder frees the lock (one process: no fork, exec sleep). */
async function holdLock(path: string, seconds: number): Promise<ReturnType<typeof Bun.spawn>> {
  const holder = Bun.spawn(
    ["flock", "--exclusive", "--no-fork", path, "sh", "-c", `echo locked; exec sleep ${seconds}`],
    {
      stdout: "pipe",
      stderr: "inherit",
    },
  );
  const reader = (holder.stdout as ReadableStream<Uint8Array>).getReader();
  const { value } = await reader.read();
  expect(new TextDecoder().decode(value)).toContain("locked");
  reader.releaseLock();
  return holder;
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-e2e-maintain-");
  smtp = await startSmtp();
  if (!existsSync(binaryPath)) throw new Error(`${binaryPath} is missing: run scripts/build first`);
}, 60_000);

afterAll(async () => {
  await Promise.all([smtp?.stop(), ...repositories.map((repository) => repository.stop())]);
  if (root) await removeTempDir(root);
}, 60_000);

describe("maintain", () => {
  test("ten pulls per host, keep_last 3 globally and 5 for one host: exactly 3 and 5 remain, and restic check is clean", async () => {
    const fleet = await makeFleet([{ name: "web01" }, { name: "db01", maintenance: { keep_last: 5 } }], {
      maintenance: { keep_last: 3 },
    });
    const times = pullTimes(10);
    await Promise.all([addSnapshots(fleet, "web01", times), addSnapshots(fleet, "db01", times)]);
    expect(await snapshotCount(fleet, "web01")).toBe(10);

    const result = await maintain(fleet);
    expect(result.stderr).not.toContain("ERROR");
    expect(result.exitCode).toBe(0);
    expect(await snapshotCount(fleet, "web01")).toBe(3);
    expect(await snapshotCount(fleet, "db01")).toBe(5);
    // the newest survive, by archive time
    const kept = (await (fleet.repositories.web01 as ResticHandle).snapshots()).map(
      (snapshot) => snapshot.tags?.[1],
    );
    expect(kept.sort()).toEqual(times.slice(-3).map(archiveTimestamp).sort());
    for (const repository of Object.values(fleet.repositories)) {
      const check = await repository.restic(["check", "--read-data"]);
      expect(check.stdout).toContain("no errors were found");
    }

    // grouped by host, limited to the host, the host's own policy, pruned; unlock and check around it
    const [forget] = callsOf(fleet, "db01", "forget");
    expect(forget?.split(" ")).toEqual(
      expect.arrayContaining(["--group-by=host", "--host=db01", "--keep-last=5", "--prune"]),
    );
    expect(forget).not.toContain("--keep-last=3");
    const webRepository = (fleet.repositories.web01 as ResticHandle).repository;
    const calls = resticCalls(fleet).filter((call) => call.includes(`--repo=${webRepository} `));
    const order = ["unlock", "forget", "check"].map((name) =>
      calls.findIndex((call) => call.split(" ").includes(name)),
    );
    expect(order).not.toContain(-1);
    expect(order).toEqual([...order].sort((left, right) => left - right));
    expect(result.stdout).toMatch(/web01\s+ok\s+10 → 3/);
    expect(maintainState(fleet, "db01").last_run).toMatchObject({
      status: "ok",
      snapshots_before: 10,
      snapshots_after: 5,
    });
  }, 120_000);

  test("a host whose newest snapshot is older than max_age keeps all its snapshots, and the run warns", async () => {
    const fleet = await makeFleet([{ name: "web01" }, { name: "old01", extra: { max_age: "2d" } }]);
    await Promise.all([
      addSnapshots(fleet, "web01", pullTimes(2)),
      addSnapshots(fleet, "old01", pullTimes(3, 10 * day)),
    ]);
    const mailsBefore = smtp.messages.length;

    const result = await maintain(fleet);
    expect(result.exitCode).toBe(0);
    expect(await snapshotCount(fleet, "old01")).toBe(3);
    expect(await snapshotCount(fleet, "web01")).toBe(1);
    expect(callsOf(fleet, "old01", "forget")).toEqual([]);
    expect(callsOf(fleet, "old01", "check")).toHaveLength(1);
    expect(result.stderr).toMatch(/WARN .*old01.*Not thinning out "old01": its newest snapshot is 10d/);
    expect(result.stdout).toMatch(/old01\s+warning\s+3\s+skipped \(stale\)/);
    expect(maintainState(fleet, "old01").last_run).toMatchObject({
      status: "warning",
      forget: "skipped-stale",
    });
    const mails = await smtp.waitForMessages(mailsBefore + 1, 10_000);
    expect(mails.at(-1)?.subject).toContain("Maintenance WARNING for old01");
  }, 60_000);

  test("while a service keeps failing, the newest snapshot holding every service is kept beyond keep_last, with a warning; --dry-run says so too", async () => {
    const fleet = await makeFleet([{ name: "web01" }], { maintenance: { keep_last: 3 } });
    const times = pullTimes(7);
    // three complete pulls, then four partial ones: keep_last 3 alone would keep only partial snapshots
    await addSnapshots(fleet, "web01", times, { partialFrom: 3 });
    const lastComplete = archiveTimestamp(times[2] as Date);

    const dryRun = await maintain(fleet, ["--dry-run"]);
    expect(dryRun.exitCode).toBe(0);
    expect(dryRun.stderr).toContain("Would keep 4 and remove 3 of 7 snapshot(s)");
    expect(dryRun.stderr).toMatch(
      /WARN .*Keeping snapshot [0-9a-f]{8} .* although its retention policy would remove it/,
    );
    expect(await snapshotCount(fleet, "web01")).toBe(7);

    const mailsBefore = smtp.messages.length;
    const forgetsBefore = callsOf(fleet, "web01", "forget").length;
    const result = await maintain(fleet);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(
      /WARN .*Keeping snapshot [0-9a-f]{8} \(\S+\) of "web01" although its retention policy would remove it: it is the newest that holds every service, and the 4 after it are partial/,
    );
    const kept = (await (fleet.repositories.web01 as ResticHandle).snapshots()).map(
      (snapshot) => snapshot.tags?.[1],
    );
    expect(kept.sort()).toEqual([lastComplete, ...times.slice(-3).map(archiveTimestamp)].sort());
    expect(maintainState(fleet, "web01").last_run).toMatchObject({
      status: "warning",
      snapshots_before: 7,
      snapshots_after: 4,
      pruned: true,
    });
    const forgets = callsOf(fleet, "web01", "forget").slice(forgetsBefore);
    expect(forgets).toHaveLength(2);
    expect(forgets[0]).toContain("--dry-run");
    expect(forgets[1]).toMatch(/ forget --prune -- [0-9a-f]{64} [0-9a-f]{64} [0-9a-f]{64}$/);
    const mails = await smtp.waitForMessages(mailsBefore + 1, 10_000);
    expect(mails.at(-1)?.subject).toContain("Maintenance WARNING for web01");
    const check = await (fleet.repositories.web01 as ResticHandle).restic(["check"]);
    expect(check.stdout).toContain("no errors were found");

    // once a complete snapshot is the newest again, the policy applies as it stands
    await addSnapshots(fleet, "web01", [new Date()]);
    const healed = await maintain(fleet);
    expect(healed.exitCode).toBe(0);
    expect(healed.stderr).not.toContain("Keeping snapshot");
    expect(await snapshotCount(fleet, "web01")).toBe(3);
  }, 120_000);

  test("with restic.maintenance.ping, maintain pings start and success when no repository failed", async () => {
    const monitor = startMonitor();
    const base = monitor.url("/maintain-check");
    try {
      const fleet = await makeFleet([{ name: "web01" }], {
        maintenance: { ping: { start_url: `${base}/start`, success_url: base, failure_url: `${base}/fail` } },
      });
      await addSnapshots(fleet, "web01", pullTimes(2));
      const result = await maintain(fleet);
      expect(result.exitCode).toBe(0);
      expect(monitor.requests).toEqual(["GET /maintain-check/start", "GET /maintain-check"]);
    } finally {
      monitor.stop();
    }
  }, 60_000);

  test("prune: false runs forget without --prune and check: false runs no check, seen in the restic calls", async () => {
    const fleet = await makeFleet([
      { name: "web01", maintenance: { prune: false } },
      { name: "db01", maintenance: { check: false } },
    ]);
    await Promise.all([
      addSnapshots(fleet, "web01", pullTimes(2)),
      addSnapshots(fleet, "db01", pullTimes(2)),
    ]);

    const result = await maintain(fleet);
    expect(result.exitCode).toBe(0);
    const [webForget] = callsOf(fleet, "web01", "forget");
    expect(webForget).toContain("--keep-last=1");
    expect(webForget).not.toContain("--prune");
    expect(callsOf(fleet, "web01", "check")).toHaveLength(1);
    expect(callsOf(fleet, "db01", "forget")[0]).toContain("--prune");
    expect(callsOf(fleet, "db01", "check")).toEqual([]);
    expect(await snapshotCount(fleet, "web01")).toBe(1);
    expect(maintainState(fleet, "web01").last_run).toMatchObject({ pruned: false, checked: true });
    expect(maintainState(fleet, "db01").last_run).toMatchObject({ pruned: true, checked: false });
  }, 60_000);

  test("a deleted pack file in one repository: exit 3, the mail names that host and repository, the other repository is maintained", async () => {
    const fleet = await makeFleet([{ name: "web01" }, { name: "db01" }]);
    await Promise.all([
      addSnapshots(fleet, "web01", pullTimes(2)),
      addSnapshots(fleet, "db01", pullTimes(2)),
    ]);
    // the pack holding the newest snapshot's file: its blob ID is the SHA-256 of the content
    const web = fleet.repositories.web01 as ResticHandle;
    const blob = createHash("sha256").update(contentOf("web01", 1)).digest("hex");
    const pack = await packOfBlob(web, blob);
    const packFile = join(web.repository, "data", pack.slice(0, 2), pack);
    expect(existsSync(packFile)).toBe(true);
    unlinkSync(packFile);
    const mailsBefore = smtp.messages.length;

    const result = await maintain(fleet);
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toMatch(/web01\s+failed/);
    expect(result.stdout).toMatch(/db01\s+ok\s+2 → 1/);
    expect(await snapshotCount(fleet, "db01")).toBe(1);
    const mails = await smtp.waitForMessages(mailsBefore + 1, 10_000);
    const mail = mails.at(-1);
    expect(mail?.to).toEqual(["admin@example.org"]);
    expect(mail?.subject).toContain("Maintenance FAILED for web01");
    expect(mail?.subject).not.toContain("db01");
    expect(mail?.text).toContain("Host: web01");
    expect(mail?.text).toContain(`Repository: ${web.repository}`);
    expect(mail?.text).toMatch(new RegExp(`Error: .*(${pack}|pack|blob)`, "s"));
    expect(maintainState(fleet, "web01").last_run).toMatchObject({ status: "failed" });
  }, 60_000);

  test("a stale restic lock left by a killed restic backup is removed by maintain before forget", async () => {
    const fleet = await makeFleet([{ name: "web01" }]);
    await addSnapshots(fleet, "web01", pullTimes(2));
    const web = fleet.repositories.web01 as ResticHandle;
    // a backup that reads stdin holds its lock until it ends; SIGKILL leaves the lock behind
    const backup = Bun.spawn(["restic", "backup", "--stdin", "--stdin-filename=dump.sql", "--host=web01"], {
      env: { ...process.env, ...web.env },
      stdin: "pipe",
      stdout: "ignore",
      stderr: "ignore",
    });
    const locks = join(web.repository, "locks");
    const deadline = Date.now() + 20_000;
    // the local backend writes <id>-tmp-<random> first and renames it: wait for the lock itself
    const lockFiles = () => readdirSync(locks).filter((name) => /^[0-9a-f]{64}$/.test(name));
    while (lockFiles().length === 0) {
      if (Date.now() > deadline) throw new Error("restic backup never took its lock");
      await Bun.sleep(50);
    }
    backup.kill("SIGKILL");
    await backup.exited;
    expect(lockFiles()).toHaveLength(1);
    // whether restic 0.14 itself lets an exclusive command past this lock depends on whether it can
    // still see the dead process; only `restic unlock` ever removes it, and that is what is checked

    const result = await maintain(fleet);
    expect(result.stderr).not.toContain("ERROR");
    expect(result.exitCode).toBe(0);
    expect(lockFiles()).toEqual([]);
    expect(await snapshotCount(fleet, "web01")).toBe(1);
    const unlock = callsOf(fleet, "web01", "unlock");
    expect(unlock).toHaveLength(1);
    expect(unlock[0]).not.toContain("--remove-all");
  }, 60_000);

  test("a server pull holding the repository makes maintain wait for it, then maintain proceeds", async () => {
    const fleet = await makeFleet([{ name: "web01" }]);
    await addSnapshots(fleet, "web01", pullTimes(2));
    mkdirSync(join(fleet.stateDir, "locks"), { recursive: true, mode: 0o700 });
    // the lock server pull takes for the whole ingest (restic/repository-lock.ts), held by another process
    const holder = await holdLock(join(fleet.stateDir, "locks", "repository-web01.lock"), 3);
    const started = Date.now();
    const result = await maintain(fleet);
    const waited = Date.now() - started;
    await holder.exited;
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('the repository of host "web01" is in use');
    expect(waited).toBeGreaterThan(2000);
    // nothing touched the repository before the holder let go
    expect(callsOf(fleet, "web01", "unlock")).toHaveLength(1);
    expect(await snapshotCount(fleet, "web01")).toBe(1);
  }, 60_000);

  test("a repository busy past repository_lock_wait is reported as failed, and nothing is run against it; failing again says since when, and the next good run mails RECOVERED", async () => {
    const fleet = await makeFleet([{ name: "web01" }, { name: "db01" }], {
      global: { repository_lock_wait: "1s" },
    });
    await Promise.all([
      addSnapshots(fleet, "web01", pullTimes(2)),
      addSnapshots(fleet, "db01", pullTimes(2)),
    ]);
    mkdirSync(join(fleet.stateDir, "locks"), { recursive: true, mode: 0o700 });
    const holder = await holdLock(join(fleet.stateDir, "locks", "repository-web01.lock"), 30);
    const mailsBefore = smtp.messages.length;
    let firstFailure = "";
    try {
      const result = await maintain(fleet);
      expect(result.exitCode).toBe(3);
      expect(result.stdout).toMatch(
        /web01\s+failed.*lock: Cannot lock the repository of host "web01": still held/,
      );
      expect(
        resticCalls(fleet).filter((call) => call.includes(fleet.repositories.web01?.repository as string)),
      ).toEqual([]);
      expect(await snapshotCount(fleet, "web01")).toBe(2);
      expect(await snapshotCount(fleet, "db01")).toBe(1);
      const mails = await smtp.waitForMessages(mailsBefore + 1, 10_000);
      expect(mails.at(-1)?.text).toContain("still held");
      expect(mails.at(-1)?.text).not.toContain("Failing since");
      firstFailure = maintainState(fleet, "web01").last_run.started_at as string;

      // failing again: the mail says since when
      expect((await maintain(fleet)).exitCode).toBe(3);
      const again = await smtp.waitForMessages(mailsBefore + 2, 10_000);
      expect(again.at(-1)?.text).toContain(`Failing since: ${firstFailure}`);
    } finally {
      holder.kill();
      await holder.exited;
    }
    // free again: the repository is maintained and a RECOVERED mail says since when it had failed
    const recovered = await maintain(fleet);
    expect(recovered.exitCode).toBe(0);
    expect(await snapshotCount(fleet, "web01")).toBe(1);
    const mails = await smtp.waitForMessages(mailsBefore + 3, 10_000);
    expect(mails.at(-1)?.subject).toEndWith("backup01 - Maintenance RECOVERED for web01");
    expect(mails.at(-1)?.text).toContain(`Failed since ${firstFailure}, until this run`);
    expect(maintainState(fleet, "web01")).not.toHaveProperty("failing_since");
  }, 90_000);

  test("read_data_subset 1/3 reads 1/3, 2/3 and 3/3 over three runs, then starts again", async () => {
    const fleet = await makeFleet([{ name: "web01" }], { maintenance: { read_data_subset: "1/3" } });
    await addSnapshots(fleet, "web01", pullTimes(1));
    for (let run = 0; run < 3; run++) expect((await maintain(fleet)).exitCode).toBe(0);
    const subsets = callsOf(fleet, "web01", "check").map(
      (call) => /--read-data-subset=(\S+)/.exec(call)?.[1],
    );
    expect(subsets).toEqual(["1/3", "2/3", "3/3"]);
    // the fourth run starts again at the first part
    expect(maintainState(fleet, "web01").read_data_subset).toEqual({ configured: "1/3", next_part: 1 });
  }, 60_000);

  test("--dry-run lists what forget would remove and changes nothing", async () => {
    const fleet = await makeFleet([{ name: "web01" }]);
    await addSnapshots(fleet, "web01", pullTimes(3));
    const result = await maintain(fleet, ["--dry-run"]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("Would keep 1 and remove 2 of 3 snapshot(s)");
    expect(result.stderr).toMatch(/would run: .*unlock/);
    expect(result.stderr).toMatch(/would run: .*check/);
    expect(await snapshotCount(fleet, "web01")).toBe(3);
    expect(callsOf(fleet, "web01", "forget")[0]).toContain("--dry-run");
    expect(callsOf(fleet, "web01", "unlock")).toEqual([]);
    expect(callsOf(fleet, "web01", "check")).toEqual([]);
    expect(existsSync(join(fleet.stateDir, "server", "maintain"))).toBe(false);
    expect(existsSync(join(fleet.stateDir, "locks"))).toBe(false);
  }, 60_000);

  test("a second maintain while one runs is skipped with exit 75 and touches nothing", async () => {
    const fleet = await makeFleet([{ name: "web01" }]);
    await addSnapshots(fleet, "web01", pullTimes(2));
    mkdirSync(join(fleet.stateDir, "server"), { recursive: true, mode: 0o700 });
    const holder = await holdLock(join(fleet.stateDir, "server", "maintain.lock"), 30);
    try {
      const result = await maintain(fleet);
      expect(result.exitCode).toBe(75);
      expect(result.stderr).toContain('Another "backupctl maintain" is running');
      expect(resticCalls(fleet)).toEqual([]);
      expect(await snapshotCount(fleet, "web01")).toBe(2);
    } finally {
      holder.kill();
      await holder.exited;
    }
  }, 60_000);
});

/** Returns the pack that holds a blob, from the repository's index. */
async function packOfBlob(repository: ResticHandle, blob: string): Promise<string> {
  const { stdout } = await repository.restic(["list", "index"]);
  for (const index of stdout.split("\n").filter(Boolean)) {
    const { stdout: content } = await repository.restic(["cat", "index", index]);
    const parsed = JSON.parse(content) as { packs: { id: string; blobs: { id: string }[] }[] };
    const pack = parsed.packs.find((candidate) => candidate.blobs.some((entry) => entry.id === blob));
    if (pack) return pack.id;
  }
  throw new Error(`no pack holds blob ${blob}`);
}
