// End-to-end: `backupctl server status` through the compiled binary, over a fleet whose hosts are
// healthy, stale, failing, never backed up, and one whose repository cannot be opened. The state
// files are written as server pull writes them (server/state.ts); the snapshots are made with restic
// the way server pull stores an archive (--host, --tag backupctl --tag <timestamp>, --time).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HostState } from "../../mod/server/state.ts";
import type { StatusReport } from "../../mod/server/status-output.ts";
import { makeTempDir, type ResticHandle, removeTempDir, startRestic } from "../harness/index.ts";
import { parseExposition } from "../unit/maintain/prometheus-format.ts";
import { runBinary } from "./binary.ts";
import { snapshotTree, writeConfigFile } from "./fixtures.ts";

const hour = 3_600_000;
let root: string;
let configDir: string;
let stateDir: string;
let workDir: string;
const repositories: Record<string, ResticHandle> = {};
const now = Date.now();

/** Returns the archive timestamp of a time. */
function archiveTimestamp(time: Date): string {
  return time.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "_");
}

/** Stores one snapshot of host at time, as server pull does. */
async function addSnapshot(host: string, time: Date): Promise<void> {
  const data = join(workDir, host, "data");
  mkdirSync(join(data, "files", "app"), { recursive: true });
  writeFileSync(join(data, "manifest.json"), `{"host":"${host}"}\n`);
  await (repositories[host] as ResticHandle).restic(
    [
      "backup",
      "--quiet",
      `--host=${host}`,
      "--tag=backupctl",
      `--tag=${archiveTimestamp(time)}`,
      `--time=${time.toISOString().slice(0, 19).replace("T", " ")}`,
      "--",
      data,
    ],
    { env: { TZ: "UTC" } },
  );
}

/** Writes a host's pull state file as server pull records it. */
function writeHostState(state: HostState): void {
  mkdirSync(join(stateDir, "server", "hosts"), { recursive: true, mode: 0o700 });
  writeFileSync(join(stateDir, "server", "hosts", `${state.host}.json`), JSON.stringify(state), {
    mode: 0o600,
  });
}

/** Returns a successful pull attempt of an archive made at time. */
function success(host: string, time: Date) {
  const timestamp = archiveTimestamp(time);
  const finished = new Date(time.getTime() + 10 * 60_000).toISOString();
  return {
    status: "ok" as const,
    started_at: finished,
    finished_at: finished,
    duration_ms: 42_000,
    archive: `${host}-${timestamp}.tar.gz`,
    archive_timestamp: timestamp,
    archive_bytes: 10_485_760,
    snapshot_id: "0123abcd",
    files_new: 7,
    files_changed: 2,
    bytes_added: 65_536,
    warnings: [],
  };
}

/** Runs server status with the fleet's config. */
function status(args: string[]) {
  return runBinary(["server", "status", "--config-dir", configDir, ...args]);
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-e2e-status-");
  configDir = join(root, "etc");
  stateDir = join(root, "state");
  workDir = join(root, "work");
  const hosts = ["healthy01", "stale01", "failing01", "never01", "broken01"];
  for (const host of hosts.filter((name) => name !== "never01")) repositories[host] = await startRestic();
  const keyFile = join(root, "id_ed25519");
  writeFileSync(keyFile, "not used by status\n", { mode: 0o600 });
  const wrongPassword = join(root, "wrong.pass");
  writeFileSync(wrongPassword, "not the password\n", { mode: 0o600 });
  writeConfigFile(configDir, "server_config.yml", {
    global: {
      local_temp_base_dir: workDir,
      state_dir: stateDir,
      admin_email: "admin@example.org",
      max_age: "36h",
    },
    restic: {
      repository_root: join(root, "repositories"),
      password_file: (repositories.healthy01 as ResticHandle).passwordFile,
    },
    hosts: hosts.map((host) => ({
      hostname: host,
      ssh_user: "backup",
      ssh_key_file: keyFile,
      ...(repositories[host] ? { repository: repositories[host].repository } : {}),
      password_file:
        host === "broken01" ? wrongPassword : (repositories[host] ?? repositories.healthy01)?.passwordFile,
    })),
  });

  const fresh = new Date(now - 2 * hour);
  const old = new Date(now - 72 * hour);
  await Promise.all([
    addSnapshot("healthy01", fresh),
    addSnapshot("stale01", old),
    addSnapshot("failing01", fresh),
    addSnapshot("broken01", fresh),
  ]);
  writeHostState({
    host: "healthy01",
    last_attempt: success("healthy01", fresh),
    last_success: success("healthy01", fresh),
  });
  writeHostState({
    host: "stale01",
    last_attempt: success("stale01", old),
    last_success: success("stale01", old),
  });
  writeHostState({
    host: "failing01",
    last_attempt: {
      status: "failed",
      started_at: new Date(now - hour).toISOString(),
      finished_at: new Date(now - hour).toISOString(),
      duration_ms: 1200,
      error: 'Cannot connect to "failing01": connection refused',
      warnings: [],
    },
    last_success: success("failing01", fresh),
    failing_since: new Date(now - hour).toISOString(),
  });
  writeHostState({
    host: "broken01",
    last_attempt: success("broken01", fresh),
    last_success: success("broken01", fresh),
  });
}, 120_000);

afterAll(async () => {
  await Promise.all(Object.values(repositories).map((repository) => repository.stop()));
  if (root) await removeTempDir(root);
}, 60_000);

describe("server status", () => {
  test("--json reports a healthy, a stale, a failing and a never backed-up host correctly and exits 1", async () => {
    const result = await status(["--json"]);
    expect(result.exitCode).toBe(1);
    const report = JSON.parse(result.stdout) as StatusReport;
    expect(report.healthy).toBe(false);
    const rows = Object.fromEntries(report.hosts.map((row) => [row.host, row]));
    expect(Object.keys(rows)).toEqual(["healthy01", "stale01", "failing01", "never01", "broken01"]);

    expect(rows.healthy01).toMatchObject({
      health: "ok",
      last_archive_timestamp: archiveTimestamp(new Date(now - 2 * hour)),
      snapshot_count: 1,
      last_ingest: { archive_bytes: 10_485_760, files_new: 7, files_changed: 2, bytes_added: 65_536 },
      last_attempt: { status: "ok" },
    });
    expect(rows.healthy01?.last_snapshot?.age_seconds).toBeGreaterThanOrEqual(2 * 3600 - 5);
    expect(rows.healthy01?.last_snapshot?.age_seconds).toBeLessThan(2 * 3600 + 600);
    expect(rows.stale01?.health).toBe("stale");
    expect(rows.stale01?.health_text).toMatch(/^stale: newest backup 3d old \(max_age 1d 12h\)$/);
    expect(rows.failing01?.health).toBe("failing");
    expect(rows.failing01?.health_text).toBe(`failing since ${new Date(now - hour).toISOString()}`);
    expect(rows.failing01?.last_attempt?.error).toContain("connection refused");
    expect(rows.never01?.health).toBe("never");
    expect(rows.never01?.repository_error).toContain("there is no restic repository");
    // a repository that cannot be opened: the row says so, the state still gives a verdict
    expect(rows.broken01?.repository_error).toMatch(/password/);
    expect(rows.broken01?.snapshot_count).toBeUndefined();
    expect(rows.broken01?.last_archive_timestamp).toBe(archiveTimestamp(new Date(now - 2 * hour)));
  }, 60_000);

  test("the table has one row per host with its verdict, and a healthy host alone exits 0", async () => {
    const table = await status([]);
    expect(table.exitCode).toBe(1);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(2 + 5);
    expect(lines[2]).toMatch(
      /^healthy01\s+ok\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+[0-9a-f]{8}\s+2h\s+1\s+10\.0 MiB\s+7\s+2\s+64\.0 KiB\s+ok/,
    );
    expect(lines.find((line) => line.startsWith("never01"))).toContain("never backed up");
    expect(lines.find((line) => line.startsWith("failing01"))).toContain("connection refused");
    expect(lines.find((line) => line.startsWith("broken01"))).toMatch(/password/);

    const healthy = await status(["--host", "healthy01"]);
    expect(healthy.exitCode).toBe(0);
  }, 60_000);

  test("--prometheus writes a textfile in exposition format, atomically and readable by node_exporter", async () => {
    const textfileDir = join(root, "textfile");
    mkdirSync(textfileDir);
    const file = join(textfileDir, "backupctl.prom");
    writeFileSync(file, "old content\n", { mode: 0o600 });
    const result = await status(["--prometheus", file]);
    expect(result.exitCode).toBe(1);
    expect(readdirSync(textfileDir)).toEqual(["backupctl.prom"]);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    const families = parseExposition(readFileSync(file, "utf8"));
    const value = (name: string, labels: Record<string, string>) =>
      families.get(name)?.samples.find((sample) => JSON.stringify(sample.labels) === JSON.stringify(labels))
        ?.value;
    expect(value("backupctl_host_healthy", { host: "healthy01" })).toBe(1);
    expect(value("backupctl_host_healthy", { host: "stale01" })).toBe(0);
    expect(value("backupctl_host_last_success_timestamp_seconds", { host: "healthy01" })).toBe(
      Math.floor((now - 2 * hour) / 1000),
    );
    expect(value("backupctl_host_last_success_age_seconds", { host: "stale01" })).toBeGreaterThan(
      72 * 3600 - 5,
    );
    expect(value("backupctl_host_last_result", { host: "failing01", result: "failed" })).toBe(1);
    expect(value("backupctl_host_last_result", { host: "never01", result: "none" })).toBe(1);
    expect(value("backupctl_host_last_bytes_added", { host: "healthy01" })).toBe(65_536);
    expect(value("backupctl_host_last_duration_seconds", { host: "healthy01" })).toBe(42);
    expect(value("backupctl_host_repository_readable", { host: "broken01" })).toBe(0);
  }, 60_000);

  test("changes nothing: not the state, not the repositories", async () => {
    const trees = () =>
      [stateDir, ...Object.values(repositories).map((repository) => repository.repository)].flatMap(
        snapshotTree,
      );
    const before = trees();
    expect((await status(["--json"])).exitCode).toBe(1);
    expect(trees()).toEqual(before);
  }, 60_000);

  test("a textfile directory that does not exist is a usage error", async () => {
    const result = await status(["--prometheus", join(root, "missing", "backupctl.prom")]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("its directory does not exist");
  }, 60_000);
});
