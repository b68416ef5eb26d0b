// The soak of catalogue §4: consecutive `client run` + `server pull` cycles (the compiled binary, one
// small files service, a real loopback sshd and restic) while measuring what could leak from one run
// to the next: processes left running, open descriptors of sshd and of each backupctl process, temp
// dirs, and bytes under the server's temp base, the client's base dir and both state dirs.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTempDir, removeTempDir, type SshdHandle, startSshd } from "../harness/index.ts";
import { type ClientFixture, createClientFixture } from "./support/client-fixture.ts";
import {
  openDescriptorCount,
  processTable,
  startBinary,
  survivors,
  watchDescendants,
} from "./support/processes.ts";
import { openResults } from "./support/results.ts";
import { diskBytes } from "./support/sampling.ts";
import { appendKnownHosts, createServerFixture, type ServerFixture } from "./support/server-fixture.ts";

const results = openResults("soak");
const host = "soak01";

let root: string;
let sshd: SshdHandle;
let server: ServerFixture;
let client: ClientFixture;
let dataFile: string;
const runPids = new Set<number>();

/** One cycle's measurements. */
interface Sample {
  leftoverProcesses: number;
  sshdDescriptors: number;
  clientPeakDescriptors: number;
  pullPeakDescriptors: number;
  backupctlTempDirs: number;
  serverTempBytes: number;
  serverTempEntries: number;
  clientBaseBytes: number;
  stateBytes: number;
}

/** Open descriptors of the sshd listener (found by its config path on the command line). */
function sshdDescriptors(): number {
  const listener = processTable().find((row) => {
    try {
      return (
        row.name === "sshd" && readFileSync(`/proc/${row.pid}/cmdline`, "utf8").includes(sshd.configPath)
      );
    } catch {
      return false;
    }
  });
  return listener ? (openDescriptorCount(listener.pid) ?? -1) : -1;
}

/** Runs the binary; returns its exit status, the most descriptors it held and the children that outlived it. */
async function measuredRun(
  args: string[],
): Promise<{ exitCode: number; peakDescriptors: number; survivors: number[]; stderr: string }> {
  const run = startBinary(args);
  const children = watchDescendants(run.pid, run.exited);
  let peakDescriptors = 0;
  let isDone = false;
  void run.exited.then(() => {
    isDone = true;
  });
  while (!isDone) {
    peakDescriptors = Math.max(peakDescriptors, openDescriptorCount(run.pid) ?? 0);
    await Bun.sleep(10);
  }
  return {
    exitCode: await run.exited,
    peakDescriptors,
    survivors: await survivors(await children.finished, 3000),
    stderr: run.stderr(),
  };
}

/** Runs count cycles and returns their samples. */
async function soak(count: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  // the product's temp dirs (secret files of dumps) are named after the pid that made them: count only
  // those of this soak's runs, since other tests on this machine may hold their own meanwhile
  const isOurs = (name: string) => runPids.has(Number(/^backupctl-secret-(\d+)-/.exec(name)?.[1]));
  for (let cycle = 0; cycle < count; cycle++) {
    // a new archive name needs a new second
    const second = Math.floor(Date.now() / 1000);
    while (Math.floor(Date.now() / 1000) === second) await Bun.sleep(20);
    writeFileSync(dataFile, `cycle ${cycle}\n`);
    const clientRun = await measuredRun(["client", "run", "--config-dir", client.configDir]);
    if (clientRun.exitCode !== 0)
      throw new Error(`client run ${cycle} exited ${clientRun.exitCode}:\n${clientRun.stderr}`);
    const pull = await measuredRun(["server", "pull", "--config-dir", server.configDir]);
    if (pull.exitCode !== 0) throw new Error(`pull ${cycle} exited ${pull.exitCode}:\n${pull.stderr}`);
    samples.push({
      leftoverProcesses: clientRun.survivors.length + pull.survivors.length,
      sshdDescriptors: sshdDescriptors(),
      clientPeakDescriptors: clientRun.peakDescriptors,
      pullPeakDescriptors: pull.peakDescriptors,
      backupctlTempDirs: readdirSync(tmpdir()).filter((name) => isOurs(name)).length,
      serverTempBytes: diskBytes(server.tempBase),
      serverTempEntries: readdirSync(server.tempBase).flatMap((entry) =>
        readdirSync(join(server.tempBase, entry)),
      ).length,
      clientBaseBytes: diskBytes(client.baseDir),
      stateBytes: diskBytes(client.stateDir) + diskBytes(join(server.stateDir, "server")),
    });
  }
  return samples;
}

/** Averages one measurement over some samples. */
function average(samples: Sample[], key: keyof Sample): number {
  return samples.reduce((sum, sample) => sum + sample[key], 0) / Math.max(1, samples.length);
}

/** Records first-tenth and last-tenth averages and asserts nothing grows. */
function judge(samples: Sample[]): void {
  const window = Math.max(1, Math.floor(samples.length / 10));
  const first = samples.slice(0, window);
  const last = samples.slice(-window);
  const keys: (keyof Sample)[] = [
    "leftoverProcesses",
    "sshdDescriptors",
    "clientPeakDescriptors",
    "pullPeakDescriptors",
    "backupctlTempDirs",
    "serverTempBytes",
    "serverTempEntries",
    "clientBaseBytes",
    "stateBytes",
  ];
  results.figure("soak.cycles", samples.length, "client run + server pull each");
  for (const key of keys) {
    results.figure(
      `soak.${key}`,
      `${Math.round(average(first, key))} → ${Math.round(average(last, key))}`,
      `mean of the first and the last ${window} cycles; max ${Math.max(...samples.map((sample) => sample[key]))}`,
    );
  }
  expect(samples.reduce((sum, sample) => sum + sample.leftoverProcesses, 0)).toBe(0);
  expect(Math.max(...samples.map((sample) => sample.backupctlTempDirs))).toBe(0);
  expect(Math.max(...samples.map((sample) => sample.serverTempEntries))).toBe(0);
  // descriptors and bytes may wobble by a little (a log line, a socket in TIME_WAIT), never grow with the cycles
  expect(average(last, "sshdDescriptors")).toBeLessThanOrEqual(average(first, "sshdDescriptors") + 2);
  expect(average(last, "pullPeakDescriptors")).toBeLessThanOrEqual(average(first, "pullPeakDescriptors") + 4);
  expect(average(last, "clientPeakDescriptors")).toBeLessThanOrEqual(
    average(first, "clientPeakDescriptors") + 4,
  );
  expect(average(last, "clientBaseBytes")).toBeLessThanOrEqual(
    average(first, "clientBaseBytes") * 1.1 + 8192,
  );
  expect(average(last, "stateBytes")).toBeLessThanOrEqual(average(first, "stateBytes") * 1.1 + 8192);
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-soak-");
  [sshd, server] = await Promise.all([startSshd(), createServerFixture(root)]);
  const data = join(root, "data");
  mkdirSync(data);
  dataFile = join(data, "counter.txt");
  client = createClientFixture(root, {
    hostname: host,
    config: {
      base_backup_dir: join(sshd.root, host),
      backup_user: sshd.user,
      backup_group: String(sshd.gid),
    },
  });
  // the server's account moves stored archives into done/: it must be able to write the client's dir
  mkdirSync(client.baseDir, { recursive: true, mode: 0o750 });
  chownSync(client.baseDir, sshd.uid, sshd.gid);
  client.writeService("files", "data", { files: { paths: [data] } });
  appendKnownHosts(server.knownHostsFile, [`[${host}]:${sshd.port} ${sshd.hostPublicKey}`]);
  await server.createRepository(host);
  server.writeConfig([
    {
      hostname: host,
      port: sshd.port,
      sshUser: sshd.user,
      keyFile: sshd.privateKeyPath,
      remoteDir: join(sshd.remoteRoot, host),
      extra: { after_ingest: "move" },
    },
  ]);
}, 120_000);

afterAll(async () => {
  await sshd?.stop();
  if (root) await removeTempDir(root);
});

describe("soak", () => {
  // 1–2 s a cycle here: 100 cycles take 2–4 minutes, so the full soak is in the slow part
  results.caseTest(
    [],
    "20 consecutive client runs and pulls leave no process, temp dir or unpacked data behind, and descriptors and bytes stay flat",
    async () => judge(await soak(20)),
    300_000,
  );
  results.slowCaseTest(
    [],
    "100 consecutive client runs and pulls leave no process, temp dir or unpacked data behind, and descriptors and bytes stay flat",
    async () => {
      const startedAt = performance.now();
      judge(await soak(100));
      results.figure("soak.duration-ms", Math.round(performance.now() - startedAt));
    },
    900_000,
  );
});
