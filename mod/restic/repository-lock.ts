// The per-repository lock shared by `server pull` and `maintain`: an flock(2) file per host under the
// state dir, so a backup never runs into a prune of the same repository (restic 0.14 has no
// --retry-lock and would just fail). A busy repository is waited for a bounded time, then reported.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { BackupError, errorMessage } from "../lib/errors.ts";
import { InstanceLock } from "../lib/lock.ts";
import { type Logger, log } from "../lib/log.ts";
import { nameProblem } from "../lib/names.ts";
import { formatDuration } from "../lib/time.ts";

/** How acquireRepositoryLock waits. */
export interface RepositoryLockOptions {
  /** Give up after this long (milliseconds); 0 tries once. */
  timeoutMs: number;
  logger?: Logger;
  /** Stops waiting when aborted (SIGTERM). */
  signal?: AbortSignal;
  /** Time between attempts (milliseconds, default 250). */
  pollMs?: number;
}

/** Returns the lock file of a host's repository: `<stateDir>/locks/repository-<host>.lock`. Throws BackupError when host is not a safe name. */
export function repositoryLockPath(stateDir: string, host: string): string {
  const problem = nameProblem(host);
  if (problem)
    throw new BackupError(`Cannot lock the repository of host "${host}": ${problem}`, { code: "usage" });
  return join(stateDir, "locks", `repository-${host}.lock`);
}

/** Takes the lock of a host's repository, waiting up to timeoutMs. Throws BackupError with code "locked" naming the host and the holder's pid when it stays held, "interrupted" when aborted. */
export async function acquireRepositoryLock(
  stateDir: string,
  host: string,
  options: RepositoryLockOptions,
): Promise<InstanceLock> {
  const logger = options.logger ?? log;
  const path = repositoryLockPath(stateDir, host);
  try {
    mkdirSync(join(stateDir, "locks"), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new BackupError(
      `Cannot create the lock directory "${join(stateDir, "locks")}": ${errorMessage(error)}`,
      {
        cause: error,
        hint: "check global.state_dir and that backupctl runs as root",
      },
    );
  }
  const deadline = Date.now() + options.timeoutMs;
  const pollMs = options.pollMs ?? 250;
  let hasLoggedWait = false;
  for (;;) {
    const lock = InstanceLock.tryAcquire(path);
    if (lock) {
      if (hasLoggedWait) logger.info(`got the repository lock of host "${host}"`);
      return lock;
    }
    const holder = describeHolder(path);
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new BackupError(
        `Cannot lock the repository of host "${host}": still held by ${holder} after ${formatDuration(options.timeoutMs)}`,
        {
          code: "locked",
          hint: `another server pull or maintain is using it (lock file "${path}"); it is tried again on the next run`,
        },
      );
    }
    if (!hasLoggedWait) {
      logger.info(
        `the repository of host "${host}" is in use by ${holder}; waiting up to ${formatDuration(remaining)}`,
      );
      hasLoggedWait = true;
    }
    await sleepUnlessAborted(Math.min(pollMs, remaining), options.signal);
    if (options.signal?.aborted) {
      throw new BackupError(
        `Cannot lock the repository of host "${host}": interrupted while waiting for ${holder}`,
        {
          code: "interrupted",
        },
      );
    }
  }
}

/** Returns "process N" for the pid recorded in the lock file, or "another process". */
function describeHolder(path: string): string {
  const pid = InstanceLock.readHolder(path);
  return pid === undefined ? "another process" : `process ${pid}`;
}

/** Waits milliseconds, returning early when signal aborts. */
function sleepUnlessAborted(milliseconds: number, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return Bun.sleep(milliseconds);
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, milliseconds);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
