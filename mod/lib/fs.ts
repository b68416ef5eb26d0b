// Small file-system helpers shared by lib and the stages: executable lookup in PATH (for the tool
// checks, without spawning anything) and files created with an exact mode whatever the umask.

import {
  accessSync,
  closeSync,
  constants,
  fchmodSync,
  lstatSync,
  openSync,
  type Stats,
  statSync,
} from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import { errnoCode } from "./errors.ts";

/** Returns the absolute path of an executable found in searchPath (default $PATH), or undefined. */
export function which(command: string, searchPath = process.env.PATH ?? ""): string | undefined {
  if (command === "") return undefined;
  if (command.includes("/")) return isExecutableFile(command) ? resolve(command) : undefined;
  for (const directory of searchPath.split(delimiter)) {
    // relative entries ("", ".") would let the current directory supply tools run as root
    if (!isAbsolute(directory)) continue;
    const candidate = join(directory, command);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** Returns whether path is a regular file this process may execute. */
export function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Returns whether path is an existing regular file (following symlinks). Throws any error but ENOENT. */
export async function isRegularFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw error;
  }
}

/** Returns whether path is an existing directory (following symlinks). */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Opens path for writing, created or truncated, with exactly mode (default 0o600), and returns the descriptor. Throws the system error when it cannot, or when path is a symlink. */
export function openForWriting(path: string, options: { mode?: number } = {}): number {
  const mode = options.mode ?? 0o600;
  // Bun opens every descriptor close-on-exec, so children never inherit it by accident
  const fd = openSync(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    mode,
  );
  try {
    // the umask narrows the mode given to open(2); fchmod makes it exact (and fixes a pre-existing file)
    fchmodSync(fd, mode);
  } catch (error) {
    closeQuietly(fd);
    throw error;
  }
  return fd;
}

/** Closes a descriptor, ignoring errors (for cleanup paths that already carry an error). */
function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // the first error is the one worth reporting
  }
}

/** Returns the names in a directory; a directory that does not exist holds none. Throws any other error. */
export async function readDirectoryNames(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return [];
    throw error;
  }
}

/** Returns lstat of path (never following a final symlink), or undefined when it does not exist. Throws any other error. */
export function lstatOrUndefined(path: string | Buffer): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw error;
  }
}
