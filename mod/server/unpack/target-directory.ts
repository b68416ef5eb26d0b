// The directory an archive is unpacked into, and its removal. It must be fresh and empty beneath a
// parent only root can enter (0700), so nothing inside can be reached or swapped by other users while
// restic reads it, and a link planted by an earlier night's archive can never be met (CVE-2025-45582).

import {
  closeSync,
  constants,
  fchmodSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmdirSync,
  unlinkSync,
} from "node:fs";
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

/** Removes a tree without ever following a symlink (links are unlinked, not entered); a missing path is fine. Throws BackupError when something cannot be removed. */
export function removeTree(path: string): void {
  const isRoot = (process.geteuid?.() ?? 0) === 0;
  // explicit stack, not recursion: depth is capped by the extractor, but a tree may come from elsewhere
  const stack: { path: Buffer; isListed: boolean }[] = [{ path: Buffer.from(path), isListed: false }];
  try {
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { path: Buffer; isListed: boolean };
      if (top.isListed) {
        stack.pop();
        rmdirSync(top.path);
        continue;
      }
      const stat = lstatOrUndefined(top.path);
      if (stat === undefined) {
        stack.pop();
        continue;
      }
      if (!stat.isDirectory()) {
        stack.pop();
        unlinkSync(top.path);
        continue;
      }
      // a 0500 directory from the archive stops a non-root owner from emptying it
      if (!isRoot) makeDirectoryWritable(top.path);
      top.isListed = true;
      for (const name of readdirSync(top.path, { encoding: "buffer" })) {
        stack.push({ path: Buffer.concat([top.path, slash, name]), isListed: false });
      }
    }
  } catch (error) {
    throw new BackupError(`Cannot remove "${path}": ${errorMessage(error)}`, { cause: error });
  }
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
