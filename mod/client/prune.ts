// Retention of the client's staged archives (DESIGN §6.7): delete this host's archives older than
// keep_days by the timestamp in their name, never the newest and never a name that does not parse;
// and clear what a killed run left behind (staging dirs, .partial archives).

import { readdir, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode, errorMessage } from "../lib/errors.ts";
import { readDirectoryNames } from "../lib/fs.ts";
import type { Logger } from "../lib/log.ts";
import { parseArchiveTimestamp } from "../lib/time.ts";

/** Prefix of a run's staging directory in base_backup_dir. */
export const stagingPrefix = ".staging-";

/** An archive of this host found in base_backup_dir. */
export interface StagedArchive {
  name: string;
  time: Date;
}

/** Escapes text for use inside a RegExp. */
function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Returns the pattern of this host's final archive names; group 1 is the timestamp. */
export function archiveNamePattern(hostname: string): RegExp {
  return new RegExp(`^${escapeRegExp(hostname)}-(\\d{8}_\\d{6})\\.tar\\.(gz|zst)$`);
}

/** Lists this host's final archives in baseDir, newest first; names that do not parse are left out. */
export async function listArchives(baseDir: string, hostname: string): Promise<StagedArchive[]> {
  const pattern = archiveNamePattern(hostname);
  const archives: StagedArchive[] = [];
  for (const name of await readdir(baseDir)) {
    const match = pattern.exec(name);
    const time = match?.[1] ? parseArchiveTimestamp(match[1]) : undefined;
    if (time) archives.push({ name, time });
  }
  return archives.sort((a, b) => b.time.getTime() - a.time.getTime());
}

/** Returns the archives to delete: older than keepDays before now, never the newest. */
export function selectArchivesToPrune(
  archives: StagedArchive[],
  keepDays: number,
  now: Date,
): StagedArchive[] {
  const cutoff = now.getTime() - keepDays * 24 * 60 * 60 * 1000;
  const [, ...older] = [...archives].sort((a, b) => b.time.getTime() - a.time.getTime());
  return older.filter((archive) => archive.time.getTime() < cutoff);
}

/** Deletes old archives with their sidecars; returns the names deleted (or that would be, in a dry run). */
export async function pruneArchives(
  baseDir: string,
  options: { hostname: string; keepDays: number; now: Date; logger: Logger; isDryRun: boolean },
): Promise<string[]> {
  const doomed = selectArchivesToPrune(
    await listArchives(baseDir, options.hostname),
    options.keepDays,
    options.now,
  );
  for (const archive of doomed) {
    if (options.isDryRun) {
      options.logger.info(`Would prune "${archive.name}" (older than ${options.keepDays} days)`);
      continue;
    }
    for (const name of [archive.name, `${archive.name}.sha256`]) {
      try {
        await unlink(join(baseDir, name));
      } catch (error) {
        if (errnoCode(error) !== "ENOENT")
          options.logger.warn(`Cannot prune "${name}": ${errorMessage(error)}`);
      }
    }
    options.logger.info(`Pruned "${archive.name}" (older than ${options.keepDays} days)`);
  }
  return doomed.map((archive) => archive.name);
}

/** Removes staging dirs and .partial archives of earlier runs. Only safe while the instance lock is held. */
export async function removeLeftovers(
  baseDir: string,
  options: { logger: Logger; isDryRun: boolean; keep?: string },
): Promise<string[]> {
  const leftovers: string[] = [];
  const names = await readDirectoryNames(baseDir);
  for (const name of names) {
    const isLeftover = name.startsWith(stagingPrefix) || name.endsWith(".partial");
    if (!isLeftover || name === options.keep) continue;
    leftovers.push(name);
    if (options.isDryRun) {
      options.logger.info(`Would remove "${name}" left by an earlier, interrupted run`);
      continue;
    }
    options.logger.warn(`Removing "${name}" left by an earlier, interrupted run`);
    await rm(join(baseDir, name), { recursive: true, force: true });
  }
  return leftovers;
}
