// What a run staged, compared with the last run's: a dump tool that exits 0 on a database emptied by
// accident (or a wrong database) gives a small, valid dump, and a files source whose filesystem is not
// mounted is an empty directory that copies without an error. Either would quietly replace good data
// in the retention window; a sharp drop raises an alert (threats #21).

import { join } from "node:path";
import { formatBytes } from "../lib/size.ts";
import { type ManifestService, measureTree } from "./manifest.ts";
import type { ServiceOutcome } from "./service-run.ts";

/** Task keys whose outputs are dumps worth watching. */
const dumpTaskKeys = new Set(["postgresql", "mariadb", "mysql", "sqlite", "influxdb"]);
/** A dump or a service's data is reported when it is smaller than this share of the last run's... */
const dropRatio = 0.5;
/** ...and the last dump was at least this big (tiny dumps vary too much to judge)... */
const minimumPreviousBytes = 16 * 1024;
/** ...or the service's data at least this big or this many files. */
const minimumPreviousServiceBytes = 1024 * 1024;
const minimumPreviousServiceFiles = 100;

/** What a service staged: its regular files and their bytes, as the manifest measured them. */
export interface ServiceSize {
  files: number;
  bytes: number;
}

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

/** Returns whether a size fell below dropRatio of one that was at least minimum (smaller ones vary too much to judge). */
function hasDropped(before: number, now: number, minimum: number): boolean {
  return before >= minimum && now < before * dropRatio;
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
    if (before === undefined || !hasDropped(before, bytes, minimumPreviousBytes)) continue;
    alerts.push(
      `the dump ${key} shrank from ${before} to ${bytes} bytes since the last run: check that the database was not emptied or replaced`,
    );
  }
  return alerts;
}

/** Returns the staged size of every service that succeeded, keyed `type/name`. */
export function serviceSizes(services: readonly ManifestService[]): Record<string, ServiceSize> {
  const sizes: Record<string, ServiceSize> = {};
  for (const service of services) {
    if (service.status === "ok")
      sizes[`${service.type}/${service.name}`] = { files: service.files, bytes: service.bytes };
  }
  return sizes;
}

/** Returns a count of files in words: "1 file", "48210 files". */
function filesText(count: number): string {
  return count === 1 ? "1 file" : `${count} files`;
}

/** Returns one alert per service whose data lost more than half of its bytes or files since the previous run. */
export function serviceSizeAlerts(
  previous: Record<string, ServiceSize> | undefined,
  current: Record<string, ServiceSize>,
): string[] {
  if (!previous) return [];
  const alerts: string[] = [];
  for (const [key, now] of Object.entries(current)) {
    const before = previous[key];
    if (before === undefined) continue;
    const hasShrunk =
      hasDropped(before.bytes, now.bytes, minimumPreviousServiceBytes) ||
      hasDropped(before.files, now.files, minimumPreviousServiceFiles);
    if (!hasShrunk) continue;
    alerts.push(
      `the service ${key} staged ${formatBytes(now.bytes)} in ${filesText(now.files)}, less than half of the last run's ${formatBytes(before.bytes)} in ${filesText(before.files)}: check that its sources are mounted and complete`,
    );
  }
  return alerts;
}
