// Turns the recorded steps into medians, ratios against the standard-tool pipelines, and the issue's
// targets; prints them as tables and builds bench/results.json.

import { cpus, loadavg, release, totalmem } from "node:os";
import { type Measurement, median } from "./measure.ts";

/** Every step row the benchmark records, with what it measures. */
export const stepRows: Record<string, string> = {
  "a.client.copy": "original client: rsync -a into staging",
  "a.client.dump": "original client: pg_dump (plain) into staging",
  "a.client.archive": "original client: tar czf",
  "a.client": "original client total",
  "a.server.fetch": "original server: scp over loopback sshd",
  "a.server.unpack": "original server: tar xzf",
  "a.server.ingest": "original server: restic backup --ignore-inode, fresh repository",
  "a.server.cleanup": "original server: rm -rf of the unpacked tree (done by its next pull)",
  "a.server": "original server total",
  "b.pigz.copy": "standard tools: rsync -a into staging",
  "b.pigz.dump": "standard tools: pg_dump (plain) into staging",
  "b.pigz.archive": "standard tools: tar -c | pigz -6",
  "b.pigz": "standard tools total, .tar.gz",
  "b.zstd.copy": "standard tools: rsync -a into staging",
  "b.zstd.dump": "standard tools: pg_dump (plain) into staging",
  "b.zstd.archive": "standard tools: tar -c | zstd -3 -T0",
  "b.zstd": "standard tools total, .tar.zst",
  "c.gzip.client": "backupctl client run, default (gzip)",
  "c.gzip.pull": "backupctl server pull, fresh repository",
  "c.gzip.pull.fetch": "… of which download + unpack (overlapped; from its state file)",
  "c.gzip.pull.ingest": "… of which restic backup (from its state file)",
  "c.zstd.client": "backupctl client run, compression: zstd",
  "c.zstd.pull": "backupctl server pull of the zstd archive, fresh repository",
  "c.zstd.pull.fetch": "… of which download + unpack (overlapped)",
  "c.zstd.pull.ingest": "… of which restic backup",
  "d.a.client": "original client after 1% of the files changed",
  "d.a.server": "original server after 1% changed (restic with parent)",
  "d.c.client": "backupctl client run after 1% changed",
  "d.c.pull": "backupctl server pull after 1% changed (restic with parent)",
  "d.c.pull.ingest": "… of which restic backup with parent",
  "downtime.rsync": "rsync -a of the stack's bind-mounted data",
  "downtime.client": "backupctl client run of the compose stack",
  "downtime.stack": "stack downtime: container kill to start (docker events)",
  "scale.pull": "backupctl server pull of the larger data set (RSS check)",
};

/** Rows that only exist when PostgreSQL runs. */
export const databaseRows = ["a.client.dump", "b.pigz.dump", "b.zstd.dump"];

/** A ratio of two rows' median wall times, with the issue's target where it has one. */
interface RatioDefinition {
  name: string;
  numerator: string;
  denominator: string;
  target?: number;
}

export const ratioDefinitions: RatioDefinition[] = [
  {
    name: "client default / original client (a)",
    numerator: "c.gzip.client",
    denominator: "a.client",
    target: 0.6,
  },
  {
    name: "client default / rsync + tar | pigz (b)",
    numerator: "c.gzip.client",
    denominator: "b.pigz",
    target: 1.15,
  },
  {
    name: "client zstd / original client (a)",
    numerator: "c.zstd.client",
    denominator: "a.client",
    target: 0.3,
  },
  { name: "client zstd / rsync + tar | zstd (b)", numerator: "c.zstd.client", denominator: "b.zstd" },
  {
    name: "server pull / original server (a)",
    numerator: "c.gzip.pull",
    denominator: "a.server",
    target: 0.85,
  },
  { name: "server pull zstd / original server (a)", numerator: "c.zstd.pull", denominator: "a.server" },
  { name: "nightly client / original nightly client", numerator: "d.c.client", denominator: "d.a.client" },
  { name: "nightly pull / original nightly server", numerator: "d.c.pull", denominator: "d.a.server" },
];

/** A ratio as reported. */
export interface Ratio {
  name: string;
  numerator: string;
  denominator: string;
  wall: number;
  cpu: number;
  target?: number;
  isMet?: boolean;
}

/** A target that is not a plain ratio of two rows. */
export interface Target {
  name: string;
  value: number;
  unit: string;
  limit: string;
  isMet: boolean;
}

/** A row's runs and their median. */
export interface Row {
  description: string;
  runs: Measurement[];
  median: Measurement;
}

/** Returns the per-field median of measurements. */
export function medianMeasurement(runs: Measurement[]): Measurement {
  const pick = (field: keyof Measurement) =>
    median(runs.map((run) => run[field]).filter((value): value is number => value !== undefined));
  const result: Measurement = {
    wallMs: pick("wallMs"),
    cpuMs: pick("cpuMs"),
    userMs: pick("userMs"),
    systemMs: pick("systemMs"),
    peakRssKiB: pick("peakRssKiB"),
  };
  if (runs.some((run) => run.ownPeakRssKiB !== undefined)) result.ownPeakRssKiB = pick("ownPeakRssKiB");
  return result;
}

/** Builds the rows from the recorded runs. */
export function buildRows(recorded: Map<string, Measurement[]>): Record<string, Row> {
  const rows: Record<string, Row> = {};
  for (const [name, runs] of recorded) {
    rows[name] = { description: stepRows[name] ?? name, runs, median: medianMeasurement(runs) };
  }
  return rows;
}

/** Computes every ratio whose two rows were measured. */
export function buildRatios(rows: Record<string, Row>): Ratio[] {
  const ratios: Ratio[] = [];
  for (const definition of ratioDefinitions) {
    const numerator = rows[definition.numerator]?.median;
    const denominator = rows[definition.denominator]?.median;
    if (!numerator || !denominator) continue;
    const wall = numerator.wallMs / denominator.wallMs;
    const ratio: Ratio = {
      name: definition.name,
      numerator: definition.numerator,
      denominator: definition.denominator,
      wall,
      cpu: numerator.cpuMs / denominator.cpuMs,
    };
    if (definition.target !== undefined) {
      ratio.target = definition.target;
      ratio.isMet = wall <= definition.target;
    }
    ratios.push(ratio);
  }
  return ratios;
}

const mebibyte = 1024;

/** Evaluates the memory and downtime targets from the rows that exist. */
export function buildTargets(rows: Record<string, Row>, options: { scaleFactor: number }): Target[] {
  const targets: Target[] = [];
  const pull = rows["c.gzip.pull"]?.median;
  if (pull) {
    const peak = pull.peakRssKiB / mebibyte;
    targets.push({
      name: "server pull peak RSS, largest process incl. restic",
      value: peak,
      unit: "MiB",
      limit: "≤ 200",
      isMet: peak <= 200,
    });
    if (pull.ownPeakRssKiB !== undefined) {
      const own = pull.ownPeakRssKiB / mebibyte;
      targets.push({
        name: "server pull peak RSS, backupctl process",
        value: own,
        unit: "MiB",
        limit: "≤ 200",
        isMet: own <= 200,
      });
    }
  }
  const scaled = rows["scale.pull"]?.median;
  if (pull && scaled) {
    const growth = scaled.peakRssKiB / pull.peakRssKiB;
    targets.push({
      name: `server pull peak RSS at ${options.scaleFactor}× the data / at 1×, incl. restic`,
      value: growth,
      unit: "×",
      limit: "0.8–1.2",
      isMet: growth >= 0.8 && growth <= 1.2,
    });
    if (scaled.ownPeakRssKiB !== undefined && pull.ownPeakRssKiB !== undefined) {
      const ownGrowth = scaled.ownPeakRssKiB / pull.ownPeakRssKiB;
      targets.push({
        name: `server pull peak RSS at ${options.scaleFactor}× the data / at 1×, backupctl process`,
        value: ownGrowth,
        unit: "×",
        limit: "0.8–1.2",
        isMet: ownGrowth >= 0.8 && ownGrowth <= 1.2,
      });
    }
  }
  const stack = rows["downtime.stack"]?.median;
  const rsync = rows["downtime.rsync"]?.median;
  if (stack && rsync) {
    const allowed = 1.2 * rsync.wallMs + 2000;
    targets.push({
      name: "stack downtime / (1.2 × rsync -a + 2 s)",
      value: stack.wallMs / allowed,
      unit: "×",
      limit: "≤ 1",
      isMet: stack.wallMs <= allowed,
    });
  }
  return targets;
}

/** Describes the machine the benchmark ran on. */
export function describeMachine(): Record<string, unknown> {
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    loadAverageAtEnd: loadavg().map((value) => Math.round(value * 100) / 100),
  };
}

/** Formats milliseconds as seconds with one decimal. */
function seconds(milliseconds: number): string {
  return (milliseconds / 1000).toFixed(1);
}

/** Returns the step table as Markdown: median wall, CPU and peak RSS per row. */
export function formatStepTable(rows: Record<string, Row>): string {
  const lines = [
    "| step | what | wall s | CPU s | peak RSS MiB | runs |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
  ];
  for (const name of Object.keys(stepRows)) {
    const row = rows[name];
    if (!row) continue;
    const own =
      row.median.ownPeakRssKiB !== undefined
        ? ` (backupctl ${(row.median.ownPeakRssKiB / mebibyte).toFixed(0)})`
        : "";
    // downtime and the pull's own phases have a wall time only
    const isWallOnly = row.median.cpuMs === 0 && row.median.peakRssKiB === 0;
    lines.push(
      `| ${name} | ${row.description.replaceAll("|", "\\|")} | ${seconds(row.median.wallMs)} | ${isWallOnly ? "–" : seconds(row.median.cpuMs)} | ${isWallOnly ? "–" : (row.median.peakRssKiB / mebibyte).toFixed(0)}${own} | ${row.runs.length} |`,
    );
  }
  return lines.join("\n");
}

/** Returns the ratio and target table as Markdown. */
export function formatRatioTable(ratios: Ratio[], targets: Target[]): string {
  const lines = ["| ratio (medians) | wall | CPU | target | met |", "| --- | ---: | ---: | ---: | :---: |"];
  for (const ratio of ratios) {
    lines.push(
      `| ${ratio.name.replaceAll("|", "\\|")} | ${ratio.wall.toFixed(2)} | ${ratio.cpu.toFixed(2)} | ${ratio.target !== undefined ? `≤ ${ratio.target}` : "–"} | ${ratio.isMet === undefined ? "–" : ratio.isMet ? "yes" : "**no**"} |`,
    );
  }
  for (const target of targets) {
    const value = target.unit === "MiB" ? `${target.value.toFixed(0)} MiB` : target.value.toFixed(2);
    lines.push(`| ${target.name} | ${value} | – | ${target.limit} | ${target.isMet ? "yes" : "**no**"} |`);
  }
  return lines.join("\n");
}
