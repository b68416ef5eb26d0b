// Catalogue #24 and #25, the kill-point sweep: `client run` (the compiled binary) backing up one
// service with a PostgreSQL dump, a compose stack of busybox services that is stopped while files
// are copied, and 8 MiB of incompressible files, killed at seeded random moments — with SIGKILL
// (then the next run must recover) and with SIGTERM to the whole process tree, as systemd signals a
// unit's cgroup (then the stack must run again before the process exits).
// The slow part is widened on purpose: tools.rsync_cmd is a wrapper that sleeps 1 s before running
// the real rsync (a fake in the catalogue's H2 sense; everything else is the real tool).

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type DockerHandle,
  makeTempDir,
  type PostgresHandle,
  removeTempDir,
  startDocker,
  startPostgres,
} from "../harness/index.ts";
import { type ClientFixture, checkArchive, createClientFixture } from "./support/client-fixture.ts";
import { writeSlowWrapper } from "./support/fakebin.ts";
import { signalTree, startBinary } from "./support/processes.ts";
import { median, seededRandom, sweepSeed } from "./support/random.ts";
import { openResults } from "./support/results.ts";
import { type ComposeStackFixture, startComposeStack } from "./support/stack.ts";

const results = openResults("C-kill-sweep");
const seed = sweepSeed(20261126);

let root: string;
let docker: DockerHandle;
let postgres: PostgresHandle;
let stack: ComposeStackFixture;
let client: ClientFixture;
let env: Record<string, string>;
let baselineMs = 0;

/** Names of the temp dirs the dump plugins make for .pgpass files. */
function secretTempDirs(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith("backupctl-secret-"));
}

/** Which step the run was in, from its last log lines. */
function phaseOf(stderr: string): string {
  const lines = stderr.trim().split("\n");
  const last = lines.at(-1) ?? "";
  if (last === "") return "start-up";
  if (last.includes("Client run finished")) return "finished";
  if (last.includes("verified:") || last.includes("Pruned")) return "after the archive";
  if (last.includes("Writing archive")) return "archive";
  if (last.includes("Service app/shop done") || last.includes("again")) return "resume";
  if (last.includes("Stopping")) return "stop and copy";
  if (last.includes("Dumped") || last.includes("Copied docker")) return "dump";
  if (last.includes("Backing up service")) return "dump";
  return "start-up";
}

/** Returns the log lines before the first line that contains marker. */
function linesBefore(stderr: string, marker: string): string {
  const lines = stderr.split("\n");
  const index = lines.findIndex((line) => line.includes(marker));
  return (index === -1 ? lines : lines.slice(0, index)).join("\n");
}

/** Runs `client run` to the end; returns its exit status and stderr. */
async function runToEnd(): Promise<{ exitCode: number; stderr: string; durationMs: number }> {
  const startedAt = performance.now();
  const run = startBinary(["client", "run", "--config-dir", client.configDir], { env });
  const exitCode = await run.exited;
  return { exitCode, stderr: run.stderr(), durationMs: performance.now() - startedAt };
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-sweep-");
  [docker, postgres] = await Promise.all([startDocker(), startPostgres()]);
  env = { ...process.env, ...docker.env, JOURNAL_STREAM: "" } as Record<string, string>;
  stack = await startComposeStack(docker, root, { project: "sweep", services: ["web", "worker"] });

  const dbPassword = randomBytes(12).toString("hex");
  await postgres.psql(`CREATE ROLE shop LOGIN PASSWORD '${dbPassword}'`);
  await postgres.psql("CREATE DATABASE shop OWNER shop");
  await postgres.psql(
    "CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 5000) g; ALTER TABLE orders OWNER TO shop",
    { database: "shop" },
  );
  const passwordFile = join(root, "shop.pass");
  writeFileSync(passwordFile, `${dbPassword}\n`, { mode: 0o600 });

  const data = join(root, "srv", "shop");
  mkdirSync(join(data, "uploads"), { recursive: true });
  writeFileSync(join(data, "uploads", "blob.bin"), randomBytes(8 * 1024 * 1024));
  for (let index = 0; index < 50; index++) writeFileSync(join(data, `note-${index}.txt`), `note ${index}\n`);
  const rsync = writeSlowWrapper(join(root, "bin"), "slow-rsync", {
    realProgram: ["rsync"],
    delaySeconds: 1,
  });

  client = createClientFixture(root, {
    config: { tools: { rsync_cmd: [rsync], docker_cmd: docker.composeCommand } },
  });
  client.writeService("app", "shop", {
    postgresql: {
      database: "shop",
      hostname: "127.0.0.1",
      port: postgres.port,
      username: "shop",
      password_file: passwordFile,
    },
    docker: stack.task(),
    files: { paths: [data] },
  });
  // the kill moments are drawn from the length of an uninterrupted run: the shortest of three
  const durations: number[] = [];
  for (let index = 0; index < 3; index++) {
    const baseline = await runToEnd();
    if (baseline.exitCode !== 0) throw new Error(`the baseline run failed:\n${baseline.stderr}`);
    durations.push(baseline.durationMs);
    await Bun.sleep(1000);
  }
  baselineMs = Math.min(...durations);
  results.figure("kill-sweep.baseline-run-ms", Math.round(baselineMs));
}, 180_000);

afterAll(async () => {
  await Promise.all([docker?.stop(), postgres?.stop()]);
  if (root) await removeTempDir(root);
}, 120_000);

/** What the SIGKILL sweep observed. */
interface KillObservation {
  atMs: number;
  phase: string;
  partialFinal: string[];
  finalWithoutSidecar: string[];
  recoveryExit: number;
  stoppedAfterRecovery: string[];
  lockLeft: boolean;
  recordsLeft: number;
  leftovers: string[];
  temporaryFilesLeft: string[];
  secretDirsLeft: number;
  replacedStaleLock: boolean;
}

/** Kills the run at each moment with SIGKILL (the whole tree), then runs again and looks at what is left. */
async function killSweep(points: number): Promise<KillObservation[]> {
  const random = seededRandom(seed);
  const observations: KillObservation[] = [];
  const secretDirsBefore = secretTempDirs().length;
  for (let index = 0; index < points; index++) {
    const atMs = Math.round(random() * baselineMs);
    const run = startBinary(["client", "run", "--config-dir", client.configDir], { env });
    await Bun.sleep(atMs);
    signalTree(run.pid, "SIGKILL");
    await run.exited;
    const phase = phaseOf(run.stderr());

    const checks = client.archives().map((name) => checkArchive(client.baseDir, name));
    const partialFinal = checks
      .filter((check) => !check.isReadable || (check.hasSidecar && !check.isSidecarValid))
      .map((check) => check.name);
    const finalWithoutSidecar = checks.filter((check) => !check.hasSidecar).map((check) => check.name);

    // a new archive name needs a new second
    await Bun.sleep(1000);
    const recovery = await runToEnd();
    const running = await stack.running();
    observations.push({
      atMs,
      phase,
      partialFinal,
      finalWithoutSidecar,
      recoveryExit: recovery.exitCode,
      stoppedAfterRecovery: stack.services.filter((service) => !running.includes(service)),
      lockLeft: existsSync(join(client.baseDir, ".backup_archive_in_progress.lock")),
      recordsLeft: client.stopRecords().length,
      leftovers: client.leftovers(),
      temporaryFilesLeft: client.abandonedTemporaryFiles(),
      secretDirsLeft: secretTempDirs().length - secretDirsBefore,
      replacedStaleLock: recovery.stderr.includes("Replacing a stale archive lock"),
    });
    if (recovery.exitCode !== 0)
      console.error(`recovery run after a kill at ${atMs} ms:\n${recovery.stderr}`);
    // archives without a sidecar are invisible to the server; they are counted above, then cleared so
    // the next point is judged on its own
    for (const name of finalWithoutSidecar) rmSync(join(client.baseDir, name), { force: true });
  }
  return observations;
}

/** What the SIGTERM sweep observed. */
interface TermObservation {
  atMs: number;
  phase: string;
  exitCode: number;
  stoppedAtExit: string[];
  msToExit: number;
  msToStackRunning: number | undefined;
  lockLeft: boolean;
  recordsLeft: number;
  leftovers: string[];
  temporaryFilesLeft: string[];
  partialFinal: string[];
  finalWithoutSidecar: string[];
  secretDirsLeft: number;
}

/** Sends SIGTERM to the whole tree at each moment; the stack must run again before the process exits. */
async function termSweep(points: number): Promise<TermObservation[]> {
  const random = seededRandom(seed ^ 0x5eed);
  const observations: TermObservation[] = [];
  const secretDirsBefore = secretTempDirs().length;
  for (let index = 0; index < points; index++) {
    const atMs = Math.round(random() * baselineMs);
    const run = startBinary(["client", "run", "--config-dir", client.configDir], { env });
    await Bun.sleep(atMs);
    const signalledAt = performance.now();
    signalTree(run.pid, "SIGTERM");
    let msToStackRunning: number | undefined;
    let wasStackDown = false;
    let hasExited = false;
    const exited = run.exited.then((code) => {
      hasExited = true;
      return code;
    });
    while (!hasExited) {
      const running = await stack.running();
      if (running.length < stack.services.length) wasStackDown = true;
      if (msToStackRunning === undefined && running.length === stack.services.length) {
        msToStackRunning = performance.now() - signalledAt;
      }
      if (msToStackRunning !== undefined) break;
      await Bun.sleep(20);
    }
    // only a stack that was down when the signal came has a time to running again
    if (!wasStackDown) msToStackRunning = undefined;
    const exitCode = await exited;
    const msToExit = performance.now() - signalledAt;
    const running = await stack.running();
    if (wasStackDown && msToStackRunning === undefined && running.length === stack.services.length) {
      msToStackRunning = msToExit;
    }
    const checks = client.archives().map((name) => checkArchive(client.baseDir, name));
    observations.push({
      atMs,
      phase: phaseOf(linesBefore(run.stderr(), "Received SIGTERM")),
      exitCode,
      stoppedAtExit: stack.services.filter((service) => !running.includes(service)),
      msToExit,
      msToStackRunning,
      lockLeft: existsSync(join(client.baseDir, ".backup_archive_in_progress.lock")),
      recordsLeft: client.stopRecords().length,
      leftovers: client.leftovers(),
      temporaryFilesLeft: client.abandonedTemporaryFiles(),
      partialFinal: checks
        .filter((check) => !check.isReadable || (check.hasSidecar && !check.isSidecarValid))
        .map((check) => check.name),
      finalWithoutSidecar: checks.filter((check) => !check.hasSidecar).map((check) => check.name),
      secretDirsLeft: secretTempDirs().length - secretDirsBefore,
    });
    if (exitCode !== 0 && exitCode !== 143)
      console.error(`run signalled at ${atMs} ms exited ${exitCode}:\n${run.stderr()}`);
    await Bun.sleep(1000);
  }
  return observations;
}

/** Counts phases as "phase ×n". */
function phaseCounts(observations: { phase: string }[]): string {
  const counts = new Map<string, number>();
  for (const { phase } of observations) counts.set(phase, (counts.get(phase) ?? 0) + 1);
  return [...counts].map(([phase, count]) => `${phase} ×${count}`).join(", ");
}

/** Records the SIGKILL figures and asserts the must-be-zero ones. */
function judgeKillSweep(observations: KillObservation[]): void {
  const sum = (pick: (observation: KillObservation) => number) =>
    observations.reduce((total, observation) => total + pick(observation), 0);
  const partial = sum((observation) => observation.partialFinal.length);
  const stopped = sum((observation) => (observation.stoppedAfterRecovery.length > 0 ? 1 : 0));
  const locks = sum((observation) => (observation.lockLeft || observation.recordsLeft > 0 ? 1 : 0));
  const failedRecoveries = sum((observation) => (observation.recoveryExit !== 0 ? 1 : 0));
  const leftovers = sum(
    (observation) => observation.leftovers.length + observation.temporaryFilesLeft.length,
  );
  results.figure("kill-sweep.seed", seed);
  results.figure("kill-sweep.points", observations.length, phaseCounts(observations));
  results.figure("kill-sweep.partial-final-archives", partial);
  results.figure("kill-sweep.stacks-left-stopped-after-next-run", stopped);
  results.figure(
    "kill-sweep.locks-left-after-next-run",
    locks,
    observations
      .filter((observation) => observation.lockLeft || observation.recordsLeft > 0)
      .map(
        (observation) =>
          `at ${observation.atMs} ms: ${observation.lockLeft ? "archive lock" : ""} ${observation.recordsLeft} records`,
      )
      .join("; "),
  );
  results.figure("kill-sweep.next-runs-failed", failedRecoveries);
  results.figure(
    "kill-sweep.leftovers-after-next-run",
    leftovers,
    observations
      .flatMap((observation) => [...observation.leftovers, ...observation.temporaryFilesLeft])
      .join(", "),
  );
  results.figure(
    "kill-sweep.final-archives-without-sidecar",
    sum((observation) => observation.finalWithoutSidecar.length),
  );
  results.figure(
    "kill-sweep.stale-archive-locks-replaced",
    sum((observation) => (observation.replacedStaleLock ? 1 : 0)),
  );
  results.figure(
    "kill-sweep.secret-temp-dirs-left",
    Math.max(0, ...observations.map((observation) => observation.secretDirsLeft)),
  );
  expect({ partial, stopped, locks, failedRecoveries, leftovers }).toEqual({
    partial: 0,
    stopped: 0,
    locks: 0,
    failedRecoveries: 0,
    leftovers: 0,
  });
}

/** Records the SIGTERM figures and asserts the must-be-zero ones. */
function judgeTermSweep(observations: TermObservation[]): void {
  const interrupted = observations.filter((observation) => observation.exitCode !== 0);
  const stoppedAtExit = observations.filter((observation) => observation.stoppedAtExit.length > 0).length;
  const badExit = observations.filter((observation) => ![0, 143].includes(observation.exitCode)).length;
  const leftBehind = observations.filter(
    (observation) =>
      observation.lockLeft ||
      observation.recordsLeft > 0 ||
      observation.leftovers.length > 0 ||
      observation.temporaryFilesLeft.length > 0,
  ).length;
  const partial = observations.reduce((total, observation) => total + observation.partialFinal.length, 0);
  const toRunning = observations
    .map((observation) => observation.msToStackRunning)
    .filter((value): value is number => value !== undefined);
  const toExit = interrupted.map((observation) => observation.msToExit);
  results.figure("term-sweep.seed", seed ^ 0x5eed);
  results.figure("term-sweep.points", observations.length, phaseCounts(observations));
  results.figure(
    "term-sweep.interrupted-runs-exit-143",
    interrupted.filter((o) => o.exitCode === 143).length,
    `${interrupted.length} runs were interrupted; the others had finished (exit 0)`,
  );
  results.figure("term-sweep.stacks-stopped-at-exit", stoppedAtExit);
  results.figure("term-sweep.runs-leaving-lock-records-or-partials", leftBehind);
  results.figure("term-sweep.partial-final-archives", partial);
  results.figure(
    "term-sweep.final-archives-without-sidecar",
    observations.reduce((total, observation) => total + observation.finalWithoutSidecar.length, 0),
  );
  results.figure(
    "term-sweep.median-ms-term-to-stack-running",
    Math.round(median(toRunning)),
    `${toRunning.length} signals came while the stack was stopped`,
  );
  results.figure("term-sweep.worst-ms-term-to-stack-running", Math.round(Math.max(0, ...toRunning)));
  results.figure("term-sweep.median-ms-term-to-exit", Math.round(median(toExit)));
  results.figure("term-sweep.worst-ms-term-to-exit", Math.round(Math.max(0, ...toExit)));
  results.figure(
    "term-sweep.secret-temp-dirs-left",
    Math.max(0, ...observations.map((observation) => observation.secretDirsLeft)),
  );
  expect({ stoppedAtExit, badExit, leftBehind, partial }).toEqual({
    stoppedAtExit: 0,
    badExit: 0,
    leftBehind: 0,
    partial: 0,
  });
}

describe("kill-point sweep of client run", () => {
  results.caseTest(
    25,
    "temporary files of atomic writes that a killed run left (stop record, last-run record, sidecar) are removed by the next run",
    async () => {
      const deadPid = 999_999;
      const planted = [
        join(client.stateDir, "client", "quiesced", `.app--shop--docker.json.${deadPid}.0123456789ab.tmp`),
        join(client.stateDir, "client", `.last-run.json.${deadPid}.0123456789ab.tmp`),
        join(client.baseDir, `.web01-20260101_000000.tar.gz.sha256.${deadPid}.0123456789ab.tmp`),
      ];
      mkdirSync(join(client.stateDir, "client", "quiesced"), { recursive: true });
      for (const path of planted) writeFileSync(path, "{");
      await Bun.sleep(1000);
      const run = await runToEnd();
      expect(run.exitCode).toBe(0);
      expect(planted.filter((path) => existsSync(path))).toEqual([]);
      expect(run.stderr).toContain("a temporary file left by an interrupted run");
      expect(client.abandonedTemporaryFiles()).toEqual([]);
    },
  );

  results.caseTest(
    25,
    "SIGKILL at 3 seeded moments: no partial final-named archive, and the next run starts the stack again and leaves no lock",
    async () => judgeKillSweep(await killSweep(3)),
    180_000,
  );
  results.slowCaseTest(
    25,
    "SIGKILL at 30 seeded moments: no partial final-named archive, and the next run starts the stack again and leaves no lock",
    async () => judgeKillSweep(await killSweep(30)),
    900_000,
  );
  results.caseTest(
    24,
    "SIGTERM to the whole process tree at 3 seeded moments: the stack runs again before the process exits 143, nothing is left",
    async () => judgeTermSweep(await termSweep(3)),
    180_000,
  );
  results.slowCaseTest(
    24,
    "SIGTERM to the whole process tree at 30 seeded moments: the stack runs again before the process exits 143, nothing is left",
    async () => judgeTermSweep(await termSweep(30)),
    900_000,
  );
});
