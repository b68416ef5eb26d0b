// Atomic file replacement for state files and checksum sidecars: a reader (or a crash) sees the
// old content or the new, never a half-written file. Temp file in the same directory → fsync →
// rename over the target → fsync the directory so the rename itself survives a power cut.

import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { BackupError, errnoCode, errorMessage } from "./errors.ts";
import { readDirectoryNames } from "./fs.ts";

/** How writeFileAtomic creates the file. */
export interface AtomicWriteOptions {
  /** Permission bits of the new file (default 0o600), set exactly whatever the umask. */
  mode?: number;
}

/** Replaces path with data atomically. Throws BackupError when any step fails; the old file is then untouched. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const mode = options.mode ?? 0o600;
  const directory = dirname(path);
  // same directory: rename(2) is only atomic within one filesystem; the dot hides it from globbing
  const temporaryPath = join(
    directory,
    `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`,
  );
  let handle: FileHandle | undefined;
  let isRenamed = false;
  try {
    handle = await open(
      temporaryPath,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      mode,
    );
    await handle.chmod(mode);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temporaryPath, path);
    isRenamed = true;
    await syncDirectory(directory);
  } catch (error) {
    if (handle) await handle.close().catch(() => undefined);
    if (!isRenamed) await unlink(temporaryPath).catch(() => undefined);
    throw new BackupError(`Cannot write "${path}": ${errorMessage(error)}`, { cause: error });
  }
}

/** Replaces path with value as indented JSON and a final newline. Throws BackupError when writing fails. */
export async function writeJsonAtomic(
  path: string,
  value: unknown,
  options: AtomicWriteOptions = {},
): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, options);
}

/** Flushes a directory's entries (a rename or a new file) to disk. Throws when the directory cannot be opened. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } catch (error) {
    // some filesystems refuse fsync on a directory; the rename is done, only its durability is weaker
    if (errnoCode(error) !== "EINVAL") throw error;
  } finally {
    await handle.close();
  }
}

// writeFileAtomic's temporary names: "." + target name + "." + pid + "." + 12 hex digits + ".tmp"
const temporaryNamePattern = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/;

/** Returns whether a process with this pid exists (a zombie or a reused pid counts: when unsure, keep). */
function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) !== "ESRCH";
  }
}

/**
 * Removes the temporary files writeFileAtomic left in directory when its process was killed between
 * creating and renaming them (nothing else ever would), and returns their names. Files of a live
 * writer are kept; a missing directory holds none.
 */
export async function removeAbandonedTemporaryFiles(directory: string): Promise<string[]> {
  const names = await readDirectoryNames(directory);
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(temporaryNamePattern.exec(name)?.[1]);
    if (!pid || pid === process.pid || isProcessAlive(pid)) continue;
    await unlink(join(directory, name)).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}
