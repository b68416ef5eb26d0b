// The benchmark (issue 7, DESIGN §13): backupctl against the original's pipeline and the fastest
// standard tools on one seeded data set, alternating and repeated, reported as ratios of medians.
// Run through scripts/bench, which installs the tools and builds dist/backupctl first.
//
//   bun bench/bench.ts [--size 1G] [--runs 3] [--seed 1] [--scale 3] [--only a,b,c,d,downtime,scale]
//                      [--no-postgres] [--work-dir bench/work] [--output bench/results.json]
//                      [--filesystem scratch|host]

import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { changeOnePercent, type DatasetSummary, generateDataset } from "./dataset.ts";
import { measureDowntime } from "./downtime.ts";
import { type BenchEnvironment, startEnvironment, writeClientConfig } from "./environment.ts";
import { type BenchFilesystem, mountScratchFilesystem, useHostFilesystem } from "./filesystem.ts";
import type { Measurement } from "./measure.ts";
import {
  buildRatios,
  buildRows,
  buildTargets,
  describeMachine,
  formatRatioTable,
  formatStepTable,
} from "./report.ts";
import {
  type Recorder,
  runBackupctl,
  runOriginalClient,
  runOriginalServer,
  runStandardTools,
} from "./steps.ts";

const repositoryRoot = resolve(import.meta.dir, "..");
const benchStartedAt = performance.now();

/** The parts of the benchmark that can be chosen with --only. */
const parts = ["a", "b", "c", "d", "downtime", "scale"] as const;
type Part = (typeof parts)[number];

/** Parsed command line. */
export interface BenchOptions {
  sizeBytes: number;
  runs: number;
  seed: number;
  /** Data set factor of the memory check (0: no check). */
  scale: number;
  parts: Set<Part>;
  hasPostgres: boolean;
  /** Share of the size that goes into the PostgreSQL database. */
  databaseShare: number;
  workDir: string;
  /** "scratch": a fresh journaled ext4 loop-mounted in the work dir (filesystem.ts); "host": the work dir as it is. */
  filesystem: "scratch" | "host";
  output: string;
  binary: string;
}

/** Parses "1G", "512M", "20M", "1.5G" or plain bytes. Throws on anything else. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  if (!match) throw new Error(`--size: cannot read "${text}" (use 1G, 512M, …)`);
  const exponent = { "": 0, K: 1, M: 2, G: 3, T: 4 }[(match[2] ?? "").toUpperCase()] ?? 0;
  return Math.round(Number(match[1]) * 1024 ** exponent);
}

/** Parses the command line. Throws on an unknown or malformed option. */
export function parseOptions(argv: string[]): BenchOptions {
  const options: BenchOptions = {
    sizeBytes: parseSize("1G"),
    runs: 3,
    seed: 1,
    scale: 3,
    parts: new Set(parts),
    hasPostgres: true,
    databaseShare: 0.05,
    workDir: join(repositoryRoot, "bench", "work"),
    filesystem: "scratch",
    output: join(repositoryRoot, "bench", "results.json"),
    binary: join(repositoryRoot, "dist", "backupctl"),
  };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index] as string;
    const value = () => {
      const next = argv[++index];
      if (next === undefined) throw new Error(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case "--size":
        options.sizeBytes = parseSize(value());
        break;
      case "--runs":
        options.runs = Math.max(1, Number.parseInt(value(), 10));
        break;
      case "--seed":
        options.seed = Number.parseInt(value(), 10);
        break;
      case "--scale":
        options.scale = Number(value());
        break;
      case "--only": {
        const chosen = value().split(",");
        for (const part of chosen) {
          if (!parts.includes(part as Part))
            throw new Error(`--only: unknown part "${part}" (${parts.join(", ")})`);
        }
        options.parts = new Set(chosen as Part[]);
        break;
      }
      case "--no-postgres":
        options.hasPostgres = false;
        break;
      case "--work-dir":
        options.workDir = resolve(value());
        break;
      case "--filesystem": {
        const chosen = value();
        if (chosen !== "scratch" && chosen !== "host")
          throw new Error(`--filesystem: "${chosen}" is neither scratch nor host`);
        options.filesystem = chosen;
        break;
      }
      case "--output":
        options.output = resolve(value());
        break;
      case "--binary":
        options.binary = resolve(value());
        break;
      default:
        throw new Error(`unknown option "${flag}"`);
    }
  }
  if (!Number.isFinite(options.scale) || options.scale < 0) throw new Error("--scale must be 0 or more");
  return options;
}

/** Logs a progress line to stderr; results go to stdout. */
function progress(message: string): void {
  const elapsed = ((performance.now() - benchStartedAt) / 1000).toFixed(0).padStart(5);
  process.stderr.write(`bench ${elapsed} s: ${message}\n`);
}

/** Returns the first line of a tool's version output. */
function toolVersion(argv: string[]): string {
  const result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (!result.success) return "unavailable";
  // ssh -V prints to stderr
  const text = result.stdout.toString().trim() || result.stderr.toString().trim();
  return text.split("\n")[0]?.trim() ?? "";
}

/** Runs the main comparison: every chosen pipeline `runs` times, alternating their order. */
async function runPipelines(
  environment: BenchEnvironment,
  options: BenchOptions,
  record: Recorder,
): Promise<void> {
  const has = (part: Part) => options.parts.has(part);
  const pipelines: [string, () => Promise<void>][] = [];
  if (has("a") || has("d")) {
    pipelines.push([
      "a",
      async () => {
        await runOriginalClient(environment, "a.client", record);
        await runOriginalServer(environment, "a.server", record, { isFreshRepository: true });
      },
    ]);
  }
  if (has("b")) {
    pipelines.push(["b.pigz", () => runStandardTools(environment, "gzip", "b.pigz", record)]);
    pipelines.push(["b.zstd", () => runStandardTools(environment, "zstd", "b.zstd", record)]);
  }
  if (has("c") || has("d")) {
    pipelines.push([
      "c.gzip",
      () => runBackupctl(environment, "gzip", "c.gzip", record, { isFreshRepository: true }),
    ]);
  }
  if (has("c")) {
    pipelines.push([
      "c.zstd",
      () => runBackupctl(environment, "zstd", "c.zstd", record, { isFreshRepository: true }),
    ]);
  }
  const nightly: [string, () => Promise<void>][] = [
    [
      "d.a",
      async () => {
        await runOriginalClient(environment, "d.a.client", record);
        await runOriginalServer(environment, "d.a.server", record, { isFreshRepository: false });
      },
    ],
    ["d.c", () => runBackupctl(environment, "gzip", "d.c", record, { isFreshRepository: false })],
  ];
  for (let run = 0; run < options.runs; run++) {
    // alternate the order, so drift on a noisy machine lands on every pipeline alike
    const order = run % 2 === 0 ? pipelines : [...pipelines].reverse();
    for (const [name, pipeline] of order) {
      progress(`run ${run + 1}/${options.runs}: ${name}`);
      await pipeline();
    }
    if (has("d")) {
      const changed = changeOnePercent(environment.dataDir, options.seed * 1000 + run);
      progress(`run ${run + 1}/${options.runs}: changed ${changed.files} files (${changed.bytes} bytes)`);
      for (const [name, pipeline] of run % 2 === 0 ? nightly : [...nightly].reverse()) {
        progress(`run ${run + 1}/${options.runs}: ${name}`);
        await pipeline();
      }
    }
  }
}

/** Pulls a data set `scale` times as large once, for the memory check. */
async function runScaleCheck(
  environment: BenchEnvironment,
  options: BenchOptions,
  record: Recorder,
): Promise<DatasetSummary> {
  const scaledDir = join(environment.workDir, "data-scaled");
  rmSync(scaledDir, { recursive: true, force: true });
  progress(`scale: generating ${Math.round((options.sizeBytes * options.scale) / 1024 ** 2)} MiB`);
  const summary = await generateDataset(scaledDir, options.sizeBytes * options.scale, options.seed + 100);
  const configDir = writeClientConfig(environment, "gzip", { dataDir: scaledDir });
  const scaled: Recorder = (row, measurement) => {
    if (row === "scale.pull" || row === "scale.client") record(row, measurement);
  };
  progress("scale: client run + server pull");
  await runBackupctl(environment, "gzip", "scale", scaled, {
    isFreshRepository: true,
    clientConfigDir: configDir,
  });
  rmSync(scaledDir, { recursive: true, force: true });
  return summary;
}

/** Bytes of the scratch image: room for every copy the largest run holds at once, at least 8 GiB (sparse). */
function scratchImageBytes(options: BenchOptions): number {
  return Math.max(8 * 1024 ** 3, options.sizeBytes * (8 + 4 * options.scale));
}

/** Runs fn with the benchmark's filesystem in place (the work dir and sshd's root on it); unmounts it afterwards. */
async function withFilesystem<T>(
  options: BenchOptions,
  fn: (filesystem: BenchFilesystem) => Promise<T>,
): Promise<T> {
  const filesystem =
    options.filesystem === "scratch"
      ? mountScratchFilesystem(options.workDir, scratchImageBytes(options))
      : useHostFilesystem(options.workDir);
  const saved = process.env.BKPCTL_TEST_SECURE_TMP;
  try {
    // sshd's root is the clients' base_backup_dir, where they stage: it belongs on the filesystem too
    // (its ancestors must be root-owned and writable by no one else, as the mount point is). The
    // clusters and dockerd stay in the system temp dir: their unix socket paths must stay short.
    if (options.filesystem === "scratch") process.env.BKPCTL_TEST_SECURE_TMP = join(filesystem.root, "sshd");
    return await fn(filesystem);
  } finally {
    if (saved === undefined) delete process.env.BKPCTL_TEST_SECURE_TMP;
    else process.env.BKPCTL_TEST_SECURE_TMP = saved;
    filesystem.release();
  }
}

/** Runs the benchmark and writes the results file. Throws when a step fails. */
export async function runBench(options: BenchOptions): Promise<Record<string, unknown>> {
  if (!existsSync(options.binary)) throw new Error(`${options.binary} is missing: run scripts/build first`);
  return await withFilesystem(options, (filesystem) => runBenchOn(filesystem, options));
}

/** Runs the benchmark in filesystem.root. */
async function runBenchOn(
  filesystem: BenchFilesystem,
  options: BenchOptions,
): Promise<Record<string, unknown>> {
  const startedAt = new Date();
  const workDir = filesystem.root;
  const dataDir = join(workDir, "data");
  rmSync(dataDir, { recursive: true, force: true });
  progress(`generating ${Math.round(options.sizeBytes / 1024 ** 2)} MiB in ${dataDir}`);
  const dataset = await generateDataset(dataDir, options.sizeBytes, options.seed);
  const recorded = new Map<string, Measurement[]>();
  const record: Recorder = (row, measurement) => {
    const runs = recorded.get(row) ?? [];
    runs.push(measurement);
    recorded.set(row, runs);
  };
  const notes: string[] = [];
  progress("starting sshd and PostgreSQL");
  const environment = await startEnvironment({
    workDir,
    dataDir,
    binary: options.binary,
    databaseBytes: options.hasPostgres ? Math.round(options.sizeBytes * options.databaseShare) : 0,
    // what the largest step writes: the pull unpacks the data and restic stores it again
    warmBytes: 2 * options.sizeBytes,
  });
  if (options.hasPostgres && !environment.postgres) notes.push("PostgreSQL is not installed: no database");
  let scaledDataset: DatasetSummary | undefined;
  try {
    await runPipelines(environment, options, record);
    if (options.parts.has("downtime")) {
      progress("downtime of a compose stack");
      await measureDowntime(environment, { runs: options.runs }, record);
    }
    if (options.parts.has("scale") && options.scale > 0) {
      scaledDataset = await runScaleCheck(environment, options, record);
    }
  } finally {
    await environment.stop();
  }

  const rows = buildRows(recorded);
  const ratios = buildRatios(rows);
  const targets = buildTargets(rows, { scaleFactor: options.scale });
  const results = {
    format: 1,
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    command: ["scripts/bench", ...process.argv.slice(2)].join(" "),
    machine: { ...describeMachine(), filesystem: filesystem.description },
    tools: {
      backupctl: toolVersion([options.binary, "--version"]),
      tar: toolVersion(["tar", "--version"]),
      pigz: toolVersion(["pigz", "--version"]),
      zstd: toolVersion(["zstd", "--version"]),
      rsync: toolVersion(["rsync", "--version"]),
      restic: toolVersion(["restic", "version"]),
      ssh: toolVersion(["ssh", "-V"]),
    },
    options: {
      size_bytes: options.sizeBytes,
      runs: options.runs,
      seed: options.seed,
      scale: options.scale,
      parts: [...options.parts],
      filesystem: options.filesystem,
    },
    dataset: {
      ...dataset,
      database_bytes: environment.databaseDumpBytes ?? 0,
      ...(scaledDataset ? { scaled_bytes: scaledDataset.bytes, scaled_files: scaledDataset.files } : {}),
    },
    notes,
    rows,
    ratios,
    targets,
  };
  mkdirSync(join(options.output, ".."), { recursive: true });
  writeFileSync(options.output, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(
    `\n${formatStepTable(rows)}\n\n${formatRatioTable(ratios, targets)}\n\nwritten: ${options.output}\n`,
  );
  return results;
}

if (import.meta.main) {
  try {
    await runBench(parseOptions(process.argv.slice(2)));
  } catch (error) {
    process.stderr.write(
      `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  }
}
