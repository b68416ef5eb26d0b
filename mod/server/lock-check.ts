// The server's view of a client's archive lock (DESIGN §7.2): a `stat` over SFTP of the lock
// directory. Absent → go on. Present → look again a few times, then give up for this run. Any error
// other than "no such file" counts as locked: reading it as unlocked would race a running client.

import { errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { formatAge, sleep } from "../lib/time.ts";
import { isNoSuchFile, type SftpSession } from "../ssh/session.ts";

/** The lock directory's name, the client's `archiveLockName`. */
export const clientLockName = ".backup_archive_in_progress.lock";

/** The result of the lock check. */
export type LockCheck =
  | { isLocked: false }
  | { isLocked: true; reason: string; since?: Date; isStale: boolean };

/** Checks the client's lock once. */
async function checkOnce(
  session: SftpSession,
  lockPath: string,
  staleAfterMs: number,
  now: () => Date,
): Promise<LockCheck> {
  try {
    const stat = await session.stat(lockPath);
    const since = stat.mtime;
    const age = since ? now().getTime() - since.getTime() : 0;
    const isStale = since !== undefined && age > staleAfterMs;
    return {
      isLocked: true,
      reason: since
        ? `the client is writing an archive (lock since ${since.toISOString()}, ${formatAge(age)} ago)`
        : "the client is writing an archive",
      ...(since ? { since } : {}),
      isStale,
    };
  } catch (error) {
    if (isNoSuchFile(error)) return { isLocked: false };
    return {
      isLocked: true,
      reason: `the lock state cannot be read (${errorMessage(error)})`,
      isStale: false,
    };
  }
}

/** Waits until the client's lock is absent, looking `retries` more times `delayMs` apart. */
export async function waitForClientUnlock(
  session: SftpSession,
  remoteDir: string,
  options: {
    retries: number;
    delayMs: number;
    staleAfterMs: number;
    logger: Logger;
    signal?: AbortSignal;
    now?: () => Date;
  },
): Promise<LockCheck> {
  const lockPath = `${remoteDir.replace(/\/$/, "")}/${clientLockName}`;
  const now = options.now ?? (() => new Date());
  for (let attempt = 0; ; attempt++) {
    const check = await checkOnce(session, lockPath, options.staleAfterMs, now);
    // a stale lock will not go away by waiting: report it at once
    if (!check.isLocked || check.isStale || attempt >= options.retries) return check;
    options.logger.info(
      `${check.reason}; looking again in ${formatAge(options.delayMs)} (${attempt + 1}/${options.retries})`,
    );
    await sleep(options.delayMs, options.signal);
  }
}
