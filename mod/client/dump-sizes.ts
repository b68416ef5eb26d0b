// The size of each database dump, compared with the last run's: a dump tool that exits 0 on a
// database emptied by accident (or a wrong database) gives a small, valid dump that would quietly
// replace good data in the retention window. A sharp drop raises an alert (threats #21).

import { join } from "node:path";
import { measureTree } from "./manifest.ts";
import type { ServiceOutcome } from "./service-run.ts";

/** Task keys whose outputs are dumps worth watching. */
const dumpTaskKeys = new Set(["postgresql", "mariadb", "mysql", "sqlite", "influxdb"]);
/** A dump is reported when it is smaller than this share of the last one... */
const dropRatio = 0.5;
/** ...and the last one was at least this big (tiny dumps vary too much to judge). */
const minimumPreviousBytes = 16 * 1024;

/** Returns the bytes of every dump output of successful services, keyed `type/name/path`. */
export async function measureDumps(
  stagingRoot: string,
  outcomes: readonly ServiceOutcome[],
): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {};
  for (const outcome of outcomes) {
    if (outcome.status !== "ok") continue;
    for (const task of outcome.tasks) {
      if (!dumpTaskKeys.has(task.key)) continue;
      for (const output of task.outputs) {
        const path = join(stagingRoot, outcome.type, outcome.name, output);
        const file = Bun.file(path);
        const bytes = (await file.exists()) ? file.size : (await measureTree(path)).bytes;
        sizes[`${outcome.type}/${outcome.name}/${output}`] = bytes;
      }
    }
  }
  return sizes;
}

/** Returns one alert per dump that shrank sharply since the previous run. */
export function dumpSizeAlerts(
  previous: Record<string, number> | undefined,
  current: Record<string, number>,
): string[] {
  if (!previous) return [];
  const alerts: string[] = [];
  for (const [key, bytes] of Object.entries(current)) {
    const before = previous[key];
    if (before === undefined || before < minimumPreviousBytes || bytes >= before * dropRatio) continue;
    alerts.push(
      `the dump ${key} shrank from ${before} to ${bytes} bytes since the last run: check that the database was not emptied or replaced`,
    );
  }
  return alerts;
}
