// Parsers for what restic prints with --json: the summary line of `backup` and the list of
// `snapshots`, turned into typed values. Pure, so they are tested on literal output as well.

import { BackupError, errorMessage } from "../lib/errors.ts";
import { partialTag } from "./args.ts";

/** The final `"message_type":"summary"` line of `restic backup --json`. */
export interface BackupSummary {
  /** restic 0.14 reports the short (8 hex digit) ID here. */
  snapshotId: string;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  dataBlobs: number;
  treeBlobs: number;
  /** Bytes added to the repository (after deduplication). */
  dataAdded: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
  totalDurationSeconds: number;
}

/** One snapshot of `restic snapshots --json`. */
export interface Snapshot {
  id: string;
  shortId: string;
  time: Date;
  host: string;
  tags: string[];
  paths: string[];
}

/** Returns the last summary message of `restic backup --json` output, or undefined when there is none. */
export function parseBackupSummary(stdout: string): BackupSummary | undefined {
  const lines = stdout.split("\n");
  for (let index = lines.length - 1; index >= 0; index--) {
    const line = (lines[index] as string).trim();
    if (!line.startsWith("{") || !line.includes('"summary"')) continue;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      continue;
    }
    if (!isRecord(message) || message.message_type !== "summary") continue;
    const snapshotId = message.snapshot_id;
    if (typeof snapshotId !== "string" || snapshotId === "") return undefined;
    const count = (key: string) => (typeof message[key] === "number" ? (message[key] as number) : 0);
    return {
      snapshotId,
      filesNew: count("files_new"),
      filesChanged: count("files_changed"),
      filesUnmodified: count("files_unmodified"),
      dirsNew: count("dirs_new"),
      dirsChanged: count("dirs_changed"),
      dirsUnmodified: count("dirs_unmodified"),
      dataBlobs: count("data_blobs"),
      treeBlobs: count("tree_blobs"),
      dataAdded: count("data_added"),
      totalFilesProcessed: count("total_files_processed"),
      totalBytesProcessed: count("total_bytes_processed"),
      totalDurationSeconds: count("total_duration"),
    };
  }
  return undefined;
}

/** Returns the snapshots of `restic snapshots --json` output, oldest first. Throws BackupError when it is not a snapshot list. */
export function parseSnapshots(stdout: string): Snapshot[] {
  let parsed: unknown;
  try {
    // restic prints "null" rather than "[]" when a filter matches nothing in some versions
    parsed = JSON.parse(stdout.trim() === "" ? "[]" : stdout) ?? [];
  } catch (error) {
    throw new BackupError(`Cannot parse restic snapshots output: ${errorMessage(error)}`);
  }
  if (!Array.isArray(parsed)) throw new BackupError("Cannot parse restic snapshots output: not a JSON array");
  const snapshots = parsed.map((entry, index): Snapshot => {
    if (!isRecord(entry) || typeof entry.id !== "string" || typeof entry.time !== "string") {
      throw new BackupError(`Cannot parse restic snapshots output: entry ${index} has no id or time`);
    }
    const time = new Date(entry.time);
    if (Number.isNaN(time.getTime())) {
      throw new BackupError(
        `Cannot parse restic snapshots output: entry ${index} has the time "${entry.time}"`,
      );
    }
    return {
      id: entry.id,
      shortId: typeof entry.short_id === "string" ? entry.short_id : entry.id.slice(0, 8),
      time,
      host: typeof entry.hostname === "string" ? entry.hostname : "",
      tags: stringList(entry.tags),
      paths: stringList(entry.paths),
    };
  });
  return snapshots.sort((left, right) => left.time.getTime() - right.time.getTime());
}

/** Returns the strings of a JSON value that should be a string list. */
function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

/** Returns whether value is a plain JSON object. */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Returns the newest snapshot that holds every service (no "partial" tag) when the snapshots after it
 * are all partial, or undefined when the newest is complete or none is. While a service keeps failing,
 * that snapshot holds its last data, and a policy that counts snapshots would thin it out like any other.
 */
export function newestCompleteBehindPartials<T extends Pick<Snapshot, "time" | "tags">>(
  snapshots: readonly T[],
): T | undefined {
  const newestFirst = [...snapshots].sort((left, right) => right.time.getTime() - left.time.getTime());
  const index = newestFirst.findIndex((snapshot) => !snapshot.tags.includes(partialTag));
  return index > 0 ? newestFirst[index] : undefined;
}
