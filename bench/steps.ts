// The pipelines the benchmark compares, each as measured steps on the same data set:
// (a) the original's — rsync into staging + `tar czf`; scp + `tar xzf` + `restic backup`;
// (b) the fastest standard tools — rsync + `tar | pigz` or `tar | zstd -T0`;
// (c) backupctl — `client run` + `server pull`, gzip (default) and zstd;
// (d) the nightly re-run after 1% of the files changed, for (a) and (c).

import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  type Algorithm,
  type BenchEnvironment,
  giveToLoginAccount,
  hosts,
  runChecked,
  writeClientConfig,
  writeServerConfig,
} from "./environment.ts";
import { type Measurement, measure } from "./measure.ts";

/** Receives each measured step under its row name (such as "a.client.archive"). */
export type Recorder = (row: string, measurement: Measurement) => void;

/** The host name the original's snapshots carry. */
const originalHost = "bench-original";

/** Returns the sum of sequential steps: wall and CPU add up, peak RSS is the largest. */
export function sumSteps(measurements: Measurement[]): Measurement {
  const total: Measurement = { wallMs: 0, cpuMs: 0, userMs: 0, systemMs: 0, peakRssKiB: 0 };
  for (const measurement of measurements) {
    total.wallMs += measurement.wallMs;
    total.cpuMs += measurement.cpuMs;
    total.userMs += measurement.userMs;
    total.systemMs += measurement.systemMs;
    total.peakRssKiB = Math.max(total.peakRssKiB, measurement.peakRssKiB);
    if (measurement.ownPeakRssKiB !== undefined) {
      total.ownPeakRssKiB = Math.max(total.ownPeakRssKiB ?? 0, measurement.ownPeakRssKiB);
    }
  }
  return total;
}

/**
 * Prepares the machine the same way before every measured step: flushes dirty pages, so one step's
 * writeback does not land in the next one's time, and leaves `warmBytes` of recently freed memory.
 * On a VM with free page reporting (virtio-balloon, as here) memory freed more than ~5-30 s ago has
 * gone back to the host, and writing into it costs about 1 s of system time per GiB, against 0.17 s
 * for memory freed just before: without this, a step that follows one which deleted a big tree (the
 * original's client removes its staging copy) writes several times faster than one that does not.
 * Called once before each half of a pipeline (client, server), never between its steps: the real
 * scripts run them back to back, and a sync in between would take each step's writeback out of the
 * measured time.
 */
export function settle(environment: Pick<BenchEnvironment, "workDir" | "warmBytes">): void {
  const scratch = join(environment.workDir, "warm-up");
  const megabytes = Math.ceil(environment.warmBytes / (1024 * 1024));
  if (megabytes > 0) {
    runChecked(["dd", "if=/dev/zero", `of=${scratch}`, "bs=1M", `count=${megabytes}`, "status=none"]);
    rmSync(scratch, { force: true });
  }
  runChecked(["sync"]);
}

/** Creates a fresh restic repository (its own id, so no restic cache is shared with another one). */
export function initRepository(environment: BenchEnvironment, path: string, cacheDir?: string): void {
  rmSync(path, { recursive: true, force: true });
  if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
  runChecked(["restic", "init", "--repo", path, "--password-file", environment.resticPasswordFile]);
}

/** Paths of the original's pipeline. */
function originalPaths(environment: BenchEnvironment) {
  return {
    staging: join(environment.sshd.root, "original-staging"),
    archive: join(environment.sshd.root, "original.tar.gz"),
    remoteArchive: `${environment.sshd.remoteRoot}/original.tar.gz`,
    serverDir: join(environment.serverDir, "original"),
    repository: join(environment.serverDir, "original-repository"),
    cacheDir: join(environment.serverDir, "original-cache"),
  };
}

/** Copies the data set (and dumps the database) into a fresh staging dir; records the copy steps. */
async function stageWithStandardTools(
  environment: BenchEnvironment,
  staging: string,
  rowPrefix: string,
  record: Recorder,
): Promise<Measurement[]> {
  rmSync(staging, { recursive: true, force: true });
  const dataTarget = join(staging, "files", "bench", "data");
  mkdirSync(dataTarget, { recursive: true, mode: 0o700 });
  const steps: Measurement[] = [];
  settle(environment);
  const copy = await measure(["rsync", "-a", environment.dataDir, `${dataTarget}/`], {
    label: `${rowPrefix}.copy`,
  });
  record(`${rowPrefix}.copy`, copy);
  steps.push(copy);
  const { postgres } = environment;
  if (postgres) {
    const dumpDir = join(staging, "postgresql", "benchdb", "databases");
    mkdirSync(dumpDir, { recursive: true, mode: 0o700 });
    const dump = await measure(
      [
        join(postgres.binDir, "pg_dump"),
        `--host=${postgres.socketDir}`,
        `--port=${postgres.port}`,
        `--username=${postgres.superuser}`,
        "--format=plain",
        `--file=${join(dumpDir, `${environment.databaseName}.sql`)}`,
        environment.databaseName,
      ],
      { label: `${rowPrefix}.dump` },
    );
    record(`${rowPrefix}.dump`, dump);
    steps.push(dump);
  }
  return steps;
}

/** (a) client: rsync into staging, then `tar czf` (gzip -6 on one core), as local_backup.sh did. */
export async function runOriginalClient(
  environment: BenchEnvironment,
  rowPrefix: string,
  record: Recorder,
): Promise<void> {
  const paths = originalPaths(environment);
  const steps = await stageWithStandardTools(environment, paths.staging, rowPrefix, record);
  rmSync(paths.archive, { force: true });
  const archive = await measure(
    ["tar", "--numeric-owner", "--create", "--gzip", `--file=${paths.archive}`, "-C", paths.staging, "."],
    { label: `${rowPrefix}.archive` },
  );
  record(`${rowPrefix}.archive`, archive);
  record(rowPrefix, sumSteps([...steps, archive]));
  rmSync(paths.staging, { recursive: true, force: true });
  giveToLoginAccount(environment, paths.archive);
}

/** (a) server: scp over loopback SSH, `tar xzf`, `restic backup` of the unpacked tree, as backup_server.sh did. */
export async function runOriginalServer(
  environment: BenchEnvironment,
  rowPrefix: string,
  record: Recorder,
  options: { isFreshRepository: boolean },
): Promise<void> {
  const paths = originalPaths(environment);
  const { sshd } = environment;
  if (options.isFreshRepository) initRepository(environment, paths.repository, paths.cacheDir);
  rmSync(paths.serverDir, { recursive: true, force: true });
  const dataDir = join(paths.serverDir, "data");
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const localArchive = join(paths.serverDir, "archive.tar.gz");
  settle(environment);
  const fetch = await measure(
    [
      "scp",
      "-q",
      "-P",
      String(sshd.port),
      "-i",
      sshd.privateKeyPath,
      "-o",
      `UserKnownHostsFile=${environment.knownHostsFile}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
      `${sshd.user}@127.0.0.1:${paths.remoteArchive}`,
      localArchive,
    ],
    { label: `${rowPrefix}.fetch` },
  );
  record(`${rowPrefix}.fetch`, fetch);
  const unpack = await measure(["tar", "--extract", "--gzip", `--file=${localArchive}`, "-C", dataDir], {
    label: `${rowPrefix}.unpack`,
  });
  record(`${rowPrefix}.unpack`, unpack);
  const ingest = await measure(
    [
      "restic",
      "--repo",
      paths.repository,
      "--password-file",
      environment.resticPasswordFile,
      "--cache-dir",
      paths.cacheDir,
      "backup",
      "--quiet",
      "--ignore-inode",
      "--host",
      originalHost,
      dataDir,
    ],
    { label: `${rowPrefix}.ingest` },
  );
  record(`${rowPrefix}.ingest`, ingest);
  // backup_server.sh empties the unpack dir at the start of the next pull (its own cleanup is dead
  // code, inventory §2): the same work server pull does at the end of each pull, so it counts here too
  const cleanup = await measure(["rm", "-rf", "--one-file-system", "--", dataDir, localArchive], {
    label: `${rowPrefix}.cleanup`,
  });
  record(`${rowPrefix}.cleanup`, cleanup);
  record(rowPrefix, sumSteps([fetch, unpack, ingest, cleanup]));
  rmSync(paths.serverDir, { recursive: true, force: true });
  rmSync(paths.archive, { force: true });
}

/** (b) rsync into staging, then `tar -c | pigz -6` or `tar -c | zstd -3 -T0`, in the archive format backupctl writes. */
export async function runStandardTools(
  environment: BenchEnvironment,
  algorithm: Algorithm,
  rowPrefix: string,
  record: Recorder,
): Promise<void> {
  const staging = join(environment.sshd.root, `standard-staging-${algorithm}`);
  const archive = join(environment.sshd.root, `standard.${algorithm === "zstd" ? "tar.zst" : "tar.gz"}`);
  const steps = await stageWithStandardTools(environment, staging, rowPrefix, record);
  const compressor = algorithm === "zstd" ? "zstd -3 -T0 -q -c" : "pigz -6 -c";
  const archiveStep = await measure(
    [
      "bash",
      "-c",
      `set -o pipefail; tar --create --file=- --format=gnu --numeric-owner -C "$1" . | ${compressor} > "$2"`,
      "bench",
      staging,
      archive,
    ],
    { label: `${rowPrefix}.archive` },
  );
  record(`${rowPrefix}.archive`, archiveStep);
  record(rowPrefix, sumSteps([...steps, archiveStep]));
  rmSync(staging, { recursive: true, force: true });
  rmSync(archive, { force: true });
}

/** Returns the archives of a backupctl host in the sshd root. */
function hostArchives(environment: BenchEnvironment, algorithm: Algorithm): string[] {
  const pattern = new RegExp(`^${hosts[algorithm]}-\\d{8}_\\d{6}\\.tar\\.(gz|zst)$`);
  return readdirSync(environment.sshd.root).filter((name) => pattern.test(name));
}

/** (c) `backupctl client run` with the files (and database) services, then `server pull` of that host. */
export async function runBackupctl(
  environment: BenchEnvironment,
  algorithm: Algorithm,
  rowPrefix: string,
  record: Recorder,
  options: { isFreshRepository: boolean; clientConfigDir?: string },
): Promise<void> {
  const clientConfigDir = options.clientConfigDir ?? writeClientConfig(environment, algorithm);
  const serverConfigDir = writeServerConfig(environment);
  for (const name of hostArchives(environment, algorithm)) {
    rmSync(join(environment.sshd.root, name), { force: true });
    rmSync(join(environment.sshd.root, `${name}.sha256`), { force: true });
  }
  const repository = join(environment.serverDir, "repositories", hosts[algorithm]);
  if (options.isFreshRepository) initRepository(environment, repository);
  const env = { JOURNAL_STREAM: undefined };
  settle(environment);
  const client = await measure(
    [environment.binary, "--quiet", "client", "run", "--config-dir", clientConfigDir],
    {
      env,
      label: `${rowPrefix}.client`,
    },
  );
  record(`${rowPrefix}.client`, client);
  if (hostArchives(environment, algorithm).length !== 1) {
    throw new Error(`${rowPrefix}.client: expected one archive of ${hosts[algorithm]} in the sshd root`);
  }
  settle(environment);
  const pull = await measure(
    [
      environment.binary,
      "--quiet",
      "server",
      "pull",
      "--config-dir",
      serverConfigDir,
      "--host",
      hosts[algorithm],
    ],
    { env, label: `${rowPrefix}.pull`, sampleOwnRss: true },
  );
  record(`${rowPrefix}.pull`, pull);
  if (hostArchives(environment, algorithm).length !== 0) {
    throw new Error(`${rowPrefix}.pull: the archive is still there; the pull did not store it`);
  }
  // the pull's own split, from its state file: download + unpack (overlapped), and restic
  const state = JSON.parse(
    readFileSync(join(environment.serverDir, "state", "server", "hosts", `${hosts[algorithm]}.json`), "utf8"),
  ) as { last_attempt?: { fetch_ms?: number; ingest_ms?: number } };
  const phase = (wallMs: number | undefined): Measurement => ({
    wallMs: wallMs ?? 0,
    cpuMs: 0,
    userMs: 0,
    systemMs: 0,
    peakRssKiB: 0,
  });
  record(`${rowPrefix}.pull.fetch`, phase(state.last_attempt?.fetch_ms));
  record(`${rowPrefix}.pull.ingest`, phase(state.last_attempt?.ingest_ms));
}
