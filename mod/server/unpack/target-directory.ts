// The directory an archive is unpacked into, and its removal. It must be fresh and empty beneath a
// parent only root can enter (0700), so nothing inside can be reached or swapped by other users while
// restic reads it, and a link planted by an earlier night's archive can never be met (CVE-2025-45582).

import {
  closeSync,
  constants,
  type Dirent,
  fchmodSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
} from "node:fs";
import { readdir, rmdir, unlink } from "node:fs/promises";
import { dirname, isAbsolute } from "node:path";
import { BackupError, errnoCode, errorMessage } from "../../lib/errors.ts";
import { lstatOrUndefined } from "../../lib/fs.ts";

/** Creates the target directory (0700), or accepts an existing empty one of ours. Throws BackupError when the parent is not 0700 or the target is in use. */
export function prepareTargetDirectory(targetDirectory: string): void {
  if (!isAbsolute(targetDirectory)) {
    throw new BackupError(`Cannot unpack into "${targetDirectory}": the target must be an absolute path`);
  }
  const parent = dirname(targetDirectory);
  const parentStat = lstatOrUndefined(parent);
  if (!parentStat?.isDirectory()) {
    throw new BackupError(
      `Cannot unpack into "${targetDirectory}": its parent "${parent}" is not a directory`,
    );
  }
  const uid = process.geteuid?.() ?? 0;
  if ((parentStat.mode & 0o077) !== 0 || parentStat.uid !== uid) {
    throw new BackupError(
      `Cannot unpack into "${targetDirectory}": its parent "${parent}" has mode ${octal(parentStat.mode)} and owner ${parentStat.uid}, so other users could reach the unpacked files`,
      { hint: `run chmod 700 "${parent}" and make it owned by uid ${uid}` },
    );
  }
  try {
    mkdirSync(targetDirectory, 0o700);
    return;
  } catch (error) {
    if (errnoCode(error) !== "EEXIST") {
      throw new BackupError(`Cannot create "${targetDirectory}": ${errorMessage(error)}`, { cause: error });
    }
  }
  const stat = lstatSync(targetDirectory);
  const isFresh =
    stat.isDirectory() &&
    stat.uid === uid &&
    (stat.mode & 0o077) === 0 &&
    readdirSync(targetDirectory).length === 0;
  if (!isFresh) {
    throw new BackupError(
      `Cannot unpack into "${targetDirectory}": it exists and is not an empty 0700 directory`,
      {
        hint: "a previous run left it behind; remove it first (removeTree)",
      },
    );
  }
}

/** Unlinks of one directory's entries in flight at once: the kernel's work of two cores, not more. */
const removalConcurrency = 8;

/**
 * Removes a tree without ever following a symlink (links are unlinked, not entered); a missing path
 * is fine. Asynchronous, so the event loop (a pending SFTP request) runs meanwhile. Throws BackupError
 * when something cannot be removed.
 */
export async function removeTree(path: string): Promise<void> {
  const root = Buffer.from(path);
  try {
    const rootStat = lstatOrUndefined(root);
    if (rootStat === undefined) return;
    if (!rootStat.isDirectory()) {
      await unlink(root);
      return;
    }
    const isRoot = (process.geteuid?.() ?? 0) === 0;
    // explicit stack, not recursion: depth is capped by the extractor, but a tree may come from elsewhere
    const pending: Buffer[] = [root];
    // parents before their children; removed in reverse
    const directories: Buffer[] = [];
    while (pending.length > 0) {
      const directory = pending.pop() as Buffer;
      // a 0500 directory from the archive stops a non-root owner from emptying it
      if (!isRoot) makeDirectoryWritable(directory);
      directories.push(directory);
      const others: Buffer[] = [];
      // latin1 names are the bytes as they are (Bun ignores encoding "buffer" with withFileTypes)
      for (const entry of await readdir(directory, { withFileTypes: true, encoding: "latin1" })) {
        const child = Buffer.concat([directory, slash, Buffer.from(entry.name, "latin1")]);
        if (isDirectoryEntry(entry, child)) pending.push(child);
        else others.push(child);
      }
      await unlinkAll(others);
    }
    for (const directory of directories.reverse()) await rmdir(directory);
  } catch (error) {
    throw new BackupError(`Cannot remove "${path}": ${errorMessage(error)}`, { cause: error });
  }
}

/** Returns whether a listed entry is a directory; lstat decides when the filesystem gave no type. */
function isDirectoryEntry(entry: Dirent<string>, path: Buffer): boolean {
  if (entry.isDirectory()) return true;
  const isTyped =
    entry.isFile() ||
    entry.isSymbolicLink() ||
    entry.isFIFO() ||
    entry.isSocket() ||
    entry.isBlockDevice() ||
    entry.isCharacterDevice();
  return !isTyped && lstatSync(path).isDirectory();
}

/** Unlinks paths, a few at a time. */
async function unlinkAll(paths: readonly Buffer[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) await unlink(paths[next++] as Buffer);
  };
  await Promise.all(Array.from({ length: Math.min(removalConcurrency, paths.length) }, worker));
}

const slash = Buffer.from("/");

/** Gives the owner rwx on a directory, through a descriptor opened without following links. */
function makeDirectoryWritable(path: Buffer): void {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    fchmodSync(fd, 0o700);
  } finally {
    closeSync(fd);
  }
}

/** Formats permission bits as octal ("0755"). */
function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}
