// The shared archive lock: a directory `.backup_archive_in_progress.lock` in base_backup_dir that the
// server sees over SFTP. It exists only while an archive is written; it records its owner (pid, boot
// id, process start time) so a lock left by a dead run is recognised and replaced, never waited on forever.

import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BackupError, errnoCode, errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { sleep } from "../lib/time.ts";

/** Name of the lock directory; the server's lock check looks for exactly this name. */
export const archiveLockName = ".backup_archive_in_progress.lock";

/** What the lock directory's owner file records. */
export interface ArchiveLockOwner {
  pid: number;
  bootId: string;
  processStartTicks: number;
  startedAt: string;
  hostname: string;
}

/** Returns this boot's id from the kernel, or "unknown". */
export function currentBootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "unknown";
  }
}

/** Returns a process's start time in clock ticks since boot, or undefined when it does not exist. */
export function processStartTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // the command name (field 2) may hold spaces and parentheses: fields after the last ")" are fixed
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/** Returns whether the recorded owner is certainly gone: another boot, or no process with that pid and start time. */
export function isOwnerDead(owner: ArchiveLockOwner): boolean {
  if (owner.bootId !== currentBootId()) return true;
  const ticks = processStartTicks(owner.pid);
  return ticks === undefined || ticks !== owner.processStartTicks;
}

/** How acquireArchiveLock waits for a live owner. */
export interface ArchiveLockOptions {
  logger: Logger;
  /** Further attempts after the first (the original made 3, 60 s apart). */
  retries: number;
  retryDelayMs: number;
  /** A lock without a readable owner record older than this is replaced (client stale_lock_after). */
  staleAfterMs?: number;
  hostname: string;
  signal?: AbortSignal;
}

/** A held archive lock; release() removes the directory. */
export interface ArchiveLock {
  path: string;
  release(): Promise<void>;
}

/** Reads a lock directory's owner record, or undefined when it is missing or unreadable. */
async function readOwner(lockPath: string): Promise<ArchiveLockOwner | undefined> {
  try {
    return JSON.parse(await readFile(join(lockPath, "owner.json"), "utf8")) as ArchiveLockOwner;
  } catch {
    return undefined;
  }
}

/** Returns how long ago the lock directory was last changed, or undefined when it is gone. */
async function lockAgeMs(lockPath: string): Promise<number | undefined> {
  try {
    return Date.now() - (await stat(lockPath)).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Creates the lock directory with its owner record in one rename, so no lock ever lacks an owner. Returns false when it exists. Throws BackupError on other errors. */
async function tryCreateLock(baseDir: string, lockPath: string, owner: ArchiveLockOwner): Promise<boolean> {
  let draft: string | undefined;
  try {
    draft = await mkdtemp(join(baseDir, ".backup_archive_lock.draft-"));
    await writeFile(join(draft, "owner.json"), `${JSON.stringify(owner)}\n`, { mode: 0o600 });
    // rename(2) onto an existing non-empty directory fails: that is the mutual exclusion. It would
    // replace an empty one (a lock made by plain mkdir, as the original did), hence the check first.
    if (existsSync(lockPath)) return false;
    await rename(draft, lockPath);
    draft = undefined;
    return true;
  } catch (error) {
    const code = errnoCode(error);
    if (code === "EEXIST" || code === "ENOTEMPTY") return false;
    throw new BackupError(`Cannot create the archive lock "${lockPath}": ${errorMessage(error)}`, {
      hint: "check that base_backup_dir exists and is writable by root",
      cause: error,
    });
  } finally {
    if (draft) await rm(draft, { recursive: true, force: true });
  }
}

/** Takes the archive lock in baseDir. Throws BackupError (code "locked") when a live owner keeps it past all retries. */
export async function acquireArchiveLock(baseDir: string, options: ArchiveLockOptions): Promise<ArchiveLock> {
  const lockPath = join(baseDir, archiveLockName);
  const owner: ArchiveLockOwner = {
    pid: process.pid,
    bootId: currentBootId(),
    processStartTicks: processStartTicks(process.pid) ?? 0,
    startedAt: new Date().toISOString(),
    hostname: options.hostname,
  };
  for (let attempt = 0; ; attempt++) {
    if (await tryCreateLock(baseDir, lockPath, owner)) {
      return { path: lockPath, release: () => releaseArchiveLock(lockPath, options.logger) };
    }
    const existing = await readOwner(lockPath);
    if (existing && isOwnerDead(existing)) {
      options.logger.warn(
        `Replacing a stale archive lock "${lockPath}" left by pid ${existing.pid} (started ${existing.startedAt}), which is no longer running`,
      );
      await rm(lockPath, { recursive: true, force: true });
      continue;
    }
    // without an owner record nobody can be confirmed alive: only age tells a lock left behind
    const age = existing ? undefined : await lockAgeMs(lockPath);
    if (age !== undefined && options.staleAfterMs !== undefined && age > options.staleAfterMs) {
      options.logger.warn(
        `Replacing a stale archive lock "${lockPath}" without an owner record, ${Math.round(age / 60_000)} minutes old (stale_lock_after)`,
      );
      await rm(lockPath, { recursive: true, force: true });
      continue;
    }
    if (attempt >= options.retries) {
      const holder = existing
        ? `pid ${existing.pid} since ${existing.startedAt}`
        : "an owner without a readable record (another tool, or a run that is just starting)";
      throw new BackupError(`The archive lock "${lockPath}" is held by ${holder}`, {
        code: "locked",
        hint: `if no backupctl run is active, remove it with: rmdir --ignore-fail-on-non-empty "${lockPath}" or rm -r "${lockPath}"`,
      });
    }
    options.logger.info(
      `Archive lock "${lockPath}" is held; retrying in ${Math.round(options.retryDelayMs / 1000)} s (${attempt + 1}/${options.retries})`,
    );
    await sleep(options.retryDelayMs, options.signal);
  }
}

/** Removes the lock directory; a failure is logged, never thrown, so it cannot hide the run's own error. */
async function releaseArchiveLock(lockPath: string, logger: Logger): Promise<void> {
  try {
    await rm(lockPath, { recursive: true, force: true });
  } catch (error) {
    logger.error(`Cannot remove the archive lock "${lockPath}": ${errorMessage(error)} (remove it by hand)`);
  }
}
