// Ownership and mode checks on configs, password files, keys and known_hosts: owned by root (or the
// invoking user) and closed to others, as libpq does for .pgpass and rsync for password files.

import { readFileSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { BackupError, errnoCode, errorMessage } from "../lib/errors.ts";

/** How closed a file must be: "private" allows no group/other access at all (configs, secrets),
 * "protected" allows others to read but not to change it (known_hosts). */
export type FileAccess = "private" | "protected";

/** One reason a file cannot be used, with the command that fixes it. */
export interface PermissionProblem {
  kind: "missing" | "unreadable" | "type" | "owner" | "mode" | "directory";
  message: string;
  hint?: string;
}

/** Options of a permission check. */
export interface PermissionOptions {
  access?: FileAccess;
  /** The invoking user's uid, allowed as owner besides root (default: process.getuid()). */
  uid?: number;
}

/** Returns a mode's permission bits as four octal digits: 0644. */
export function formatMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, "0")}`;
}

/** Returns the user name of a uid from /etc/passwd, or undefined. */
export function userName(uid: number): string | undefined {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const fields = line.split(":");
      if (fields[2] === String(uid)) return fields[0];
    }
  } catch {
    // no passwd file (a minimal container): the uid alone names the owner
  }
  return undefined;
}

/** Names an owner for a message: `alice (uid 1000)`. */
function ownerName(uid: number): string {
  const name = userName(uid);
  return name ? `${name} (uid ${uid})` : `uid ${uid}`;
}

/** Returns what other users may do with a file of this mode, or undefined when nothing. */
function othersMayDo(mode: number, access: FileAccess): string | undefined {
  const canChange = (mode & 0o022) !== 0;
  const canRead = (mode & 0o044) !== 0;
  const canRun = (mode & 0o011) !== 0;
  if (access === "protected") return canChange ? "change it" : undefined;
  if (canRead && canChange) return "read and change it";
  if (canChange) return "change it";
  if (canRead) return "read it";
  if (canRun) return "run it";
  return undefined;
}

/** Returns every reason a config, password or key file cannot be used; empty when it can. */
export function permissionProblems(file: string, options: PermissionOptions = {}): PermissionProblem[] {
  const access = options.access ?? "private";
  const uid = options.uid ?? process.getuid?.() ?? 0;
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(file);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") {
      return [{ kind: "missing", message: `Cannot use "${file}": no such file` }];
    }
    return [{ kind: "unreadable", message: `Cannot use "${file}": ${errorMessage(error)}` }];
  }
  if (!stats.isFile()) {
    return [{ kind: "type", message: `Cannot use "${file}": it is not a regular file` }];
  }
  const problems: PermissionProblem[] = [];
  const allowedOwners = uid === 0 ? "root" : `root or ${ownerName(uid)}`;
  if (stats.uid !== 0 && stats.uid !== uid) {
    problems.push({
      kind: "owner",
      message: `Cannot use "${file}": it is owned by ${ownerName(stats.uid)}, not by ${allowedOwners}`,
      hint: `run chown ${uid === 0 ? "root" : (userName(uid) ?? uid)} ${file}`,
    });
  }
  const othersMay = othersMayDo(stats.mode, access);
  if (othersMay) {
    const fixedMode = access === "private" ? stats.mode & 0o700 : stats.mode & 0o755;
    problems.push({
      kind: "mode",
      message: `Cannot use "${file}": mode ${formatMode(stats.mode)} allows other users to ${othersMay}`,
      hint: `run chmod ${(fixedMode & 0o777).toString(8).padStart(3, "0")} ${file}`,
    });
  }
  problems.push(...directoryProblems(file, uid));
  return problems;
}

/** Returns problems of the directories holding a file (and its symlink target): others must not swap it. */
function directoryProblems(file: string, uid: number): PermissionProblem[] {
  const directories = new Set([path.dirname(path.resolve(file))]);
  try {
    directories.add(path.dirname(realpathSync(file)));
  } catch {
    // the file itself was readable by stat; a failing realpath leaves only its own directory to check
  }
  const problems: PermissionProblem[] = [];
  for (const directory of directories) {
    let stats: ReturnType<typeof statSync>;
    try {
      stats = statSync(directory);
    } catch {
      continue;
    }
    const isSticky = (stats.mode & 0o1000) !== 0;
    if ((stats.mode & 0o022) !== 0 && !isSticky) {
      problems.push({
        kind: "directory",
        message: `Cannot use "${file}": its directory "${directory}" (mode ${formatMode(stats.mode)}) lets other users replace it`,
        hint: `run chmod go-w ${directory}`,
      });
    } else if (stats.uid !== 0 && stats.uid !== uid && !isSticky) {
      problems.push({
        kind: "directory",
        message: `Cannot use "${file}": its directory "${directory}" is owned by ${ownerName(stats.uid)}, who could replace it`,
        hint: `run chown root ${directory}`,
      });
    }
  }
  return problems;
}

/** Checks a password, key or config file before use. Throws BackupError (usage) naming the file and the fix when it is missing, not owned by root or the invoking user, or open to others. */
export function assertPrivateFile(file: string, options: PermissionOptions = {}): void {
  const [problem] = permissionProblems(file, options);
  if (problem) throw new BackupError(problem.message, { code: "usage", hint: problem.hint });
}
