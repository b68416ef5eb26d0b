// The instance lock that keeps two runs of one job apart: flock(2) on a lock file, called through
// bun:ffi on glibc. The kernel drops the lock when the holder dies in any way, SIGKILL included,
// so there is never a stale lock to clean up.

import { dlopen, FFIType, read } from "bun:ffi";
import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { BackupError, errorMessage } from "./errors.ts";

const lockExclusive = 2; // LOCK_EX, <sys/file.h>
const lockNonBlocking = 4; // LOCK_NB
const lockUnlock = 8; // LOCK_UN
const errnoWouldBlock = 11; // EWOULDBLOCK = EAGAIN on Linux
const errnoInterrupted = 4; // EINTR

const libcSymbols = {
  flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
} as const;

type Libc = ReturnType<typeof dlopen<typeof libcSymbols>>["symbols"];

let libc: Libc | undefined;

/** Returns libc's flock and errno, loaded once. Throws BackupError when libc cannot be loaded. */
function loadLibc(): Libc {
  if (!libc) {
    try {
      libc = dlopen("libc.so.6", libcSymbols).symbols;
    } catch (error) {
      throw new BackupError(`Cannot load libc.so.6 for flock(2): ${errorMessage(error)}`, {
        hint: "backupctl needs a glibc-based Linux system",
      });
    }
  }
  return libc;
}

/** Calls flock(2) and returns 0 or the errno it failed with; EINTR is retried. */
function flock(fd: number, operation: number): number {
  const symbols = loadLibc();
  for (;;) {
    if (symbols.flock(fd, operation) === 0) return 0;
    // read right after the failed call, before any other libc call in this thread can overwrite it
    const errnoPointer = symbols.__errno_location();
    const errno = errnoPointer === null ? -1 : read.i32(errnoPointer, 0);
    if (errno !== errnoInterrupted) return errno;
  }
}

/** How InstanceLock.acquire waits. */
export interface LockWaitOptions {
  /** Give up after this long (milliseconds). */
  timeoutMs: number;
  /** Time between attempts (milliseconds, default 200). */
  pollMs?: number;
}

/** An exclusive flock(2) on a lock file, held until release() or the death of this process. */
export class InstanceLock {
  readonly path: string;
  private fd: number | undefined;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.fd = fd;
  }

  /** Takes the lock at once, or returns undefined when another process holds it. Throws BackupError when the lock file cannot be opened or locked. */
  static tryAcquire(path: string): InstanceLock | undefined {
    let fd: number;
    try {
      // O_NOFOLLOW: a symlink planted at the lock path must not make root create or truncate its target
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    } catch (error) {
      throw new BackupError(`Cannot open lock file "${path}": ${errorMessage(error)}`, { cause: error });
    }
    const errno = flock(fd, lockExclusive | lockNonBlocking);
    if (errno === errnoWouldBlock) {
      closeSync(fd);
      return undefined;
    }
    if (errno !== 0) {
      closeSync(fd);
      throw new BackupError(`Cannot lock "${path}": flock failed with errno ${errno}`);
    }
    // the pid is for people reading the file; the flock, not the content, is the lock
    try {
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
    } catch {
      // a full disk must not stop a run that holds the lock
    }
    return new InstanceLock(path, fd);
  }

  /** Takes the lock, retrying until timeoutMs. Throws BackupError with code "locked" when it stays held. */
  static async acquire(path: string, options: LockWaitOptions): Promise<InstanceLock> {
    const deadline = Date.now() + options.timeoutMs;
    const pollMs = options.pollMs ?? 200;
    for (;;) {
      const lock = InstanceLock.tryAcquire(path);
      if (lock) return lock;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        const holder = InstanceLock.readHolder(path);
        const heldBy = holder === undefined ? "another process" : `process ${holder}`;
        throw new BackupError(`Cannot lock "${path}": held by ${heldBy}`, { code: "locked" });
      }
      await Bun.sleep(Math.min(pollMs, remaining));
    }
  }

  /** Returns the pid the current or last holder wrote into the lock file, or undefined. */
  static readHolder(path: string): number | undefined {
    try {
      const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether this object still holds the lock. */
  get isHeld(): boolean {
    return this.fd !== undefined;
  }

  /** Releases the lock; a second call does nothing. The file stays: unlinking it would let a waiter lock a deleted inode while a newcomer locks a new file. */
  release(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    flock(fd, lockUnlock);
    closeSync(fd);
  }
}
