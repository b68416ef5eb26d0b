// Runs one benchmark step under GNU time: wall clock, CPU (user + system of the whole process tree)
// and peak RSS (the largest single process of the tree, as wait4 reports it). For backupctl itself the
// peak of its own process is sampled from /proc as well, apart from the tools it starts.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What one step cost. */
export interface Measurement {
  wallMs: number;
  /** User + system CPU time of the step's whole process tree. */
  cpuMs: number;
  userMs: number;
  systemMs: number;
  /** Peak RSS of the largest process of the tree (GNU time %M). */
  peakRssKiB: number;
  /** Peak RSS of the step's own main process (VmHWM sampled from /proc), when asked for. */
  ownPeakRssKiB?: number;
}

/** How a step runs. */
export interface MeasureOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Sample the main process's own VmHWM (its children excluded). */
  sampleOwnRss?: boolean;
  /** Exit codes that count as success (default [0]). */
  okExitCodes?: number[];
  /** Names the step in a failure. */
  label: string;
}

const timeBinary = "/usr/bin/time";

/** Runs argv under /usr/bin/time and returns what it cost. Throws when it exits with a code not in okExitCodes. */
export async function measure(argv: string[], options: MeasureOptions): Promise<Measurement> {
  const directory = mkdtempSync(join(tmpdir(), "bench-time-"));
  const report = join(directory, "time");
  try {
    const startedAt = performance.now();
    const child = Bun.spawn([timeBinary, "--format=%e %U %S %M", `--output=${report}`, "--", ...argv], {
      env: { ...process.env, ...options.env } as Record<string, string>,
      cwd: options.cwd,
      stdout: "pipe",
      stderr: "pipe",
      stdin: "ignore",
    });
    const sampler = options.sampleOwnRss ? sampleOwnPeak(child.pid, child.exited) : Promise.resolve(0);
    const [stdout, stderr, exitCode, ownPeak] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
      sampler,
    ]);
    const wallMs = performance.now() - startedAt;
    if (!(options.okExitCodes ?? [0]).includes(exitCode)) {
      throw new Error(
        `${options.label}: ${argv.join(" ")} exited ${exitCode}\n${tail(stderr)}\n${tail(stdout)}`,
      );
    }
    const fields = readFileSync(report, "utf8").trim().split("\n").at(-1)?.split(" ") ?? [];
    const [, user, system, rss] = fields.map(Number);
    const measurement: Measurement = {
      wallMs,
      userMs: (user ?? 0) * 1000,
      systemMs: (system ?? 0) * 1000,
      cpuMs: ((user ?? 0) + (system ?? 0)) * 1000,
      peakRssKiB: rss ?? 0,
    };
    if (options.sampleOwnRss) measurement.ownPeakRssKiB = ownPeak;
    return measurement;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Returns the last lines of a text, for failure messages. */
function tail(text: string): string {
  return text.trim().split("\n").slice(-15).join("\n");
}

/** Polls VmHWM of the child of timePid (the measured program) until it exits; returns the highest seen. */
async function sampleOwnPeak(timePid: number, exited: Promise<number>): Promise<number> {
  let isDone = false;
  void exited.then(() => {
    isDone = true;
  });
  let peak = 0;
  let programPid: number | undefined;
  while (!isDone) {
    try {
      programPid ??= Number(
        readFileSync(`/proc/${timePid}/task/${timePid}/children`, "utf8").trim().split(" ")[0] || Number.NaN,
      );
      if (programPid && !Number.isNaN(programPid)) {
        const status = readFileSync(`/proc/${programPid}/status`, "utf8");
        const match = /VmHWM:\s+(\d+) kB/.exec(status);
        if (match) peak = Math.max(peak, Number(match[1]));
      } else {
        programPid = undefined;
      }
    } catch {
      // the process ended between two samples
    }
    await Bun.sleep(50);
  }
  return peak;
}

/** Returns the median of the values (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
