// Field schemas shared by every config file kind: paths, names, mail addresses, durations, sizes,
// option strings and commands. Each one reads what people write and yields what the code needs.

import { realpathSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { tryParseDuration } from "../lib/duration.ts";
import { BackupError } from "../lib/errors.ts";
import { logLevels } from "../lib/log.ts";
import { nameProblem } from "../lib/names.ts";
import { tryParseByteSize } from "../lib/size.ts";
import { argsNaming, optionName, passwordOptionNames, repositoryOptionNames } from "../restic/args.ts";
import { splitShellWords } from "./shell-words.ts";

/** Describes a value for a message: `string "abc"`, `number 5`, `a list`, `a mapping`. */
export function describeValue(value: unknown): string {
  if (value === null) return "an empty value";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return `string ${JSON.stringify(shown)}`;
  }
  if (typeof value === "object") return "a mapping";
  return `${typeof value} ${String(value)}`;
}

/** Returns a zod error function that words type mismatches as "expected <description>, got …". */
export function expecting(description: string) {
  return (issue: { code?: string; input?: unknown }): string | undefined => {
    if (issue.code !== "invalid_type" && issue.code !== "invalid_union") return undefined;
    // a missing key is worded by the loader ("is required"), not here
    if (issue.input === undefined) return undefined;
    return `expected ${description}, got ${describeValue(issue.input)}`;
  };
}

/** Adds a custom issue with an optional hint from inside a zod transform or refinement. */
export function addIssue(
  context: { issues: unknown[] },
  input: unknown,
  message: string,
  hint?: string,
): void {
  context.issues.push({ code: "custom", message, input, params: hint ? { hint } : undefined });
}

/** Returns whether text holds a control character (CR, LF, ESC, …), which must not reach headers or logs. */
export function hasControlCharacters(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** A one-line string: CR, LF and other control characters are refused (they end up in mail headers). */
export function singleLineString() {
  return z.string({ error: expecting("a string") }).refine((value) => !hasControlCharacters(value), {
    message: "must be a single line without control characters",
  });
}

/** A non-empty one-line string. */
export function nonEmptyString() {
  return singleLineString().refine((value) => value.trim() !== "", { message: "must not be empty" });
}

/** An absolute file-system path. */
export function absolutePath() {
  return z
    .string({ error: expecting("an absolute path") })
    .refine((value) => value.startsWith("/"), { message: "must be an absolute path (starting with /)" })
    .refine((value) => !hasControlCharacters(value), {
      message: "must not contain control characters",
    });
}

// whole-tree directories that a backup must never stage into, prune in or unpack over
const systemDirectories = new Set([
  "/",
  "/bin",
  "/boot",
  "/dev",
  "/etc",
  "/home",
  "/lib",
  "/lib64",
  "/opt",
  "/proc",
  "/root",
  "/run",
  "/sbin",
  "/srv",
  "/sys",
  "/tmp",
  "/usr",
  "/var",
  "/var/tmp",
  "/var/lib",
]);

/** Returns the path with symlinks resolved, or the path itself when it does not exist (yet). */
function resolvedPath(value: string): string {
  try {
    return realpathSync(value);
  } catch {
    return value;
  }
}

/** A directory backupctl owns and cleans up: absolute, and never "/" or a system directory itself. */
export function workDirectory() {
  return absolutePath().superRefine((value, context) => {
    const normalized = path.posix.normalize(value).replace(/(.)\/$/, "$1");
    // a symlink to "/" or /etc is as dangerous as writing "/" or /etc
    const resolved = resolvedPath(normalized);
    if (systemDirectories.has(normalized) || systemDirectories.has(resolved)) {
      const target = systemDirectories.has(normalized) ? normalized : resolved;
      addIssue(
        context,
        value,
        target === normalized
          ? `"${value}" is a system directory; backupctl creates and deletes files in this directory`
          : `"${value}" is a symlink to the system directory "${resolved}"; backupctl creates and deletes files in this directory`,
        `use a directory of its own, such as ${target === "/" ? "/var/tmp/backups" : `${target}/backups`}`,
      );
    } else if (value.split("/").includes("..")) {
      addIssue(context, value, `must not contain ".." (write the path without it)`);
    }
  });
}

/** A name that becomes a path component (service, type, host, plugin). */
export function safeName() {
  return z.string({ error: expecting("a name") }).superRefine((value, context) => {
    const problem = nameProblem(value);
    if (problem) addIssue(context, value, `cannot be used as a name: ${problem}`);
  });
}

const mailAddressExpression = /^[^\s@<>"',;()[\]\\]+@[^\s@<>"',;()[\]\\]+$/;

/** One mail address such as admin@example.org. */
export function mailAddress() {
  return z
    .string({ error: expecting("a mail address") })
    .refine((value) => mailAddressExpression.test(value), {
      message: "must be a plain mail address such as admin@example.org",
    });
}

/** One address or a list of addresses; the code reads a list. */
export function mailAddressList() {
  return z
    .union([mailAddress(), z.array(mailAddress()).min(1)], {
      error: expecting("a mail address or a list of them"),
    })
    .transform((value) => (Array.isArray(value) ? value : [value]));
}

/** A duration: seconds as a number, or "90s", "30m", "26h", "2d", "1w"; the code reads milliseconds. */
export function duration() {
  return z
    .union([z.number(), z.string()], { error: expecting("a duration such as 90s, 30m, 26h or 2d") })
    .transform((value, context) => {
      const milliseconds = tryParseDuration(value);
      if (milliseconds === undefined) {
        addIssue(
          context,
          value,
          `${describeValue(value)} is not a duration`,
          "write it like 90s, 30m, 26h, 2d or 1w",
        );
        return z.NEVER;
      }
      return milliseconds;
    });
}

/** A byte size: bytes as a number, or "500M", "2G", "1T" (binary units); the code reads bytes. */
export function byteSize() {
  return z
    .union([z.number(), z.string()], { error: expecting("a size such as 500M, 2G or 1T") })
    .transform((value, context) => {
      const bytes = tryParseByteSize(value);
      if (bytes === undefined) {
        addIssue(context, value, `${describeValue(value)} is not a size`, "write it like 500M, 2G or 1T");
        return z.NEVER;
      }
      return bytes;
    });
}

/** Returns the argv words of a string split by shell quoting rules, or adds an issue. */
function splitOrReport(value: string, context: { issues: unknown[] }): string[] | typeof z.NEVER {
  try {
    return splitShellWords(value);
  } catch (error) {
    if (!(error instanceof BackupError)) throw error;
    addIssue(context, value, error.message, error.hint);
    return z.NEVER;
  }
}

/** Extra options for a tool: a YAML list, or a string split with shell quoting rules; the code reads argv. */
export function optionList() {
  return z
    .union([z.string(), z.array(z.string({ error: expecting("a string") }))], {
      error: expecting("a string or a list of strings"),
    })
    .transform((value, context) => (Array.isArray(value) ? value : splitOrReport(value, context)));
}

/**
 * Returns a refinement of an optionList that refuses the options backupctl sets itself: refused maps an
 * option name ("-r", "--repo") to why; "--repo=x" and "-rx" are matched by their name, nothing after "--".
 */
export function refuseOptions(refused: ReadonlyMap<string, string>) {
  return (options: string[], context: { issues: unknown[] }): void => {
    for (const option of argsNaming(options, [...refused.keys()])) {
      const reason = refused.get(optionName(option) ?? "");
      addIssue(context, option, `"${option}" cannot be set here: ${reason}, set by backupctl`);
    }
  };
}

/** Options that name the repository or its password, which backupctl passes to restic itself. */
export const resticRepositoryOptions: ReadonlyMap<string, string> = new Map([
  ...repositoryOptionNames.map((name): [string, string] => [name, "the repository is the host's repository"]),
  ...passwordOptionNames.map((name): [string, string] => [name, "the password is restic.password_file"]),
]);

/** A command: a program with optional leading arguments ("docker compose"); the code reads argv. */
export function commandLine() {
  return optionList().superRefine((words, context) => {
    if (words.length === 0 || words[0] === "") addIssue(context, words, "must name a program");
  });
}

/** A log level: error, warn, info or debug, or the original's 0–3; the code reads the name. */
export function logLevel() {
  const expected = 'one of "error", "warn", "info", "debug" (or 0-3)';
  return z.union([z.enum(logLevels), z.int()], { error: expecting(expected) }).transform((value, context) => {
    if (typeof value === "string") return value;
    const name = logLevels[value];
    if (name === undefined) {
      addIssue(context, value, `expected ${expected}, got ${describeValue(value)}`);
      return z.NEVER;
    }
    return name;
  });
}

const accountNameExpression = /^[A-Za-z0-9_][A-Za-z0-9._-]*\$?$/;

/** A user or group name (or numeric id) as the system knows it. */
export function accountName() {
  return z
    .union([z.string(), z.int().min(0)], { error: expecting("a user or group name") })
    .transform((value) => String(value))
    .refine((value) => accountNameExpression.test(value) && value.length <= 32, {
      message: "must be a user or group name such as backup (letters, digits, '.', '_', '-')",
    });
}

/** A TCP port number. */
export function port() {
  return z
    .int({ error: expecting("a port number") })
    .min(1)
    .max(65535);
}

/** A network host name or address for connecting (not a path), never starting with "-". */
export function networkAddress() {
  return z
    .string({ error: expecting("a host name or address") })
    .refine((value) => /^[A-Za-z0-9_.:%[\]-]+$/.test(value) && !value.startsWith("-"), {
      message: "must be a host name or an IP address",
    });
}

/** A whole number of seconds, zero or more. */
export function seconds() {
  return z.int({ error: expecting("a whole number of seconds") }).min(0);
}
