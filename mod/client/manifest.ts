// manifest.json at the root of every archive: which host and run made it, and per service and task
// what happened. The server reads it to tag a snapshot "partial"; people read it after a restore.

import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { readDirectCounts } from "./direct-sources.ts";
import type { ServiceOutcome } from "./service-run.ts";

/** Version of the manifest layout; bumped on incompatible changes. */
export const manifestFormat = 1;

/** A service as recorded in the manifest. */
export interface ManifestService {
  type: string;
  name: string;
  status: "ok" | "failed";
  error?: string;
  duration_ms: number;
  downtime_ms?: number;
  files: number;
  bytes: number;
  tasks: {
    key: string;
    status: "ok" | "failed" | "not-run";
    error?: string;
    warnings: string[];
    outputs: string[];
    duration_ms: number;
  }[];
}

/** The whole manifest. */
export interface Manifest {
  format: number;
  host: string;
  archive_timestamp: string;
  created_at: string;
  backupctl_version: string;
  status: "ok" | "partial";
  services: ManifestService[];
}

/** Counts regular files and their bytes under a directory without following symlinks. */
export async function measureTree(directory: string | Buffer): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  let names: Buffer[];
  try {
    // Buffer names: a file name that is not UTF-8 would otherwise be decoded lossily and not be found
    // (Bun ignores withFileTypes together with encoding "buffer", hence one lstat per entry)
    names = await readdir(directory, { encoding: "buffer" });
  } catch {
    return { files, bytes };
  }
  for (const name of names) {
    const path = Buffer.concat([Buffer.from(directory), Buffer.from("/"), name]);
    const stat = await lstat(path);
    if (stat.isDirectory()) {
      const inner = await measureTree(path);
      files += inner.files;
      bytes += inner.bytes;
    } else if (stat.isFile()) {
      files += 1;
      bytes += stat.size;
    }
  }
  return { files, bytes };
}

/** Builds the manifest of a run from its service outcomes and the staged trees. */
export async function buildManifest(options: {
  host: string;
  archiveTimestamp: string;
  version: string;
  stagingRoot: string;
  outcomes: ServiceOutcome[];
}): Promise<Manifest> {
  const services: ManifestService[] = [];
  for (const outcome of options.outcomes) {
    const staged =
      outcome.status === "ok"
        ? await measureTree(join(options.stagingRoot, outcome.type, outcome.name))
        : { files: 0, bytes: 0 };
    // a files task that tar reads in place staged only a list (direct-sources.ts)
    const inPlace =
      outcome.status === "ok" ? await readDirectCounts(options.stagingRoot, outcome) : { files: 0, bytes: 0 };
    const measured = { files: staged.files + inPlace.files, bytes: staged.bytes + inPlace.bytes };
    services.push({
      type: outcome.type,
      name: outcome.name,
      status: outcome.status,
      ...(outcome.error ? { error: outcome.error } : {}),
      duration_ms: outcome.durationMs,
      ...(outcome.downtimeMs !== undefined ? { downtime_ms: outcome.downtimeMs } : {}),
      ...measured,
      tasks: outcome.tasks.map((task) => ({
        key: task.key,
        status: task.status,
        ...(task.error ? { error: task.error } : {}),
        warnings: task.warnings,
        outputs: task.outputs,
        duration_ms: task.durationMs,
      })),
    });
  }
  return {
    format: manifestFormat,
    host: options.host,
    archive_timestamp: options.archiveTimestamp,
    created_at: new Date().toISOString(),
    backupctl_version: options.version,
    status: services.every((service) => service.status === "ok") ? "ok" : "partial",
    services,
  };
}
