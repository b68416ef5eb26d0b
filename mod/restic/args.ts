// Pure argv builders for every restic command backupctl runs: no I/O, one table test each. Every
// value that comes from config or a client is one argv element, passed as `--flag=value` or after `--`,
// so a host, tag or path starting with "-" is never read as an option. Neither the repository nor the
// password is here: runner.ts hands them to restic as RESTIC_REPOSITORY and RESTIC_PASSWORD_FILE.

import { BackupError } from "../lib/errors.ts";

/** The tag every snapshot made by backupctl carries. */
export const backupctlTag = "backupctl";

/** The tag of a snapshot whose archive had failed services or unreadable files. */
export const partialTag = "partial";

/** A retention policy as written in config; unset keys keep nothing by themselves. */
export interface RetentionPolicy {
  keep_last?: number;
  keep_hourly?: number;
  keep_daily?: number;
  keep_weekly?: number;
  keep_monthly?: number;
  keep_yearly?: number;
  /** A restic duration relative to the newest snapshot, such as "1y6m" or "30d". */
  keep_within?: string;
  /** Snapshots carrying any of these tags are kept. */
  keep_tag?: string[];
}

/** Options of resticBackupArgs. */
export interface BackupArgsOptions {
  host: string;
  /** Tags after "backupctl": the archive timestamp, "partial", … */
  tags?: readonly string[];
  /** The snapshot time (the archive's time); formatted in UTC, runner.ts runs restic with TZ=UTC. */
  time?: Date;
  /** backup_options from config, already split into argv; placed before "--". */
  extraOptions?: readonly string[];
}

/** Options of resticSnapshotsArgs. */
export interface SnapshotsArgsOptions {
  host?: string;
  /** Only snapshots carrying all of these tags. */
  tags?: readonly string[];
  /** Read without taking a repository lock (safe for listing, and works while prune holds one). */
  isLockFree?: boolean;
}

/** Options of resticForgetArgs. */
export interface ForgetArgsOptions {
  /** Append --prune to delete the data no remaining snapshot uses. */
  prune: boolean;
  /** restic's --group-by; backupctl groups by host (default "host"). */
  groupBy?: string;
}

/** Options of resticCheckArgs. */
export interface CheckArgsOptions {
  /** A --read-data-subset value: "k/t", "x%" or a size such as "500M". */
  readDataSubset?: string;
  /** check_options from config, already split into argv. */
  options?: readonly string[];
}

/** Options of resticRestoreArgs. */
export interface RestoreArgsOptions {
  /** Restore only these paths of the snapshot. */
  include?: readonly string[];
  /** With snapshot "latest": the newest snapshot of this host. */
  host?: string;
}

/** Options of resticStatsArgs. */
export interface StatsArgsOptions {
  /** restic's --mode (default restore-size). */
  mode?: "restore-size" | "files-by-contents" | "raw-data" | "blobs-per-file";
  host?: string;
  /** One snapshot ID (or "latest"); all snapshots when absent. */
  snapshot?: string;
}

const retentionCountFlags = [
  ["keep_last", "--keep-last"],
  ["keep_hourly", "--keep-hourly"],
  ["keep_daily", "--keep-daily"],
  ["keep_weekly", "--keep-weekly"],
  ["keep_monthly", "--keep-monthly"],
  ["keep_yearly", "--keep-yearly"],
] as const;

// the flags a legacy forget option string may hold; anything else (a repository, a password file, a
// host filter that would silently narrow retention) is refused rather than handed to restic
const legacyForgetFlags = new Set([
  "-l",
  "--keep-last",
  "-H",
  "--keep-hourly",
  "-d",
  "--keep-daily",
  "-w",
  "--keep-weekly",
  "-m",
  "--keep-monthly",
  "-y",
  "--keep-yearly",
  "--keep-within",
  "--keep-within-hourly",
  "--keep-within-daily",
  "--keep-within-weekly",
  "--keep-within-monthly",
  "--keep-within-yearly",
  "--keep-tag",
  "--prune",
  "-g",
  "--group-by",
  "-c",
  "--compact",
  "--max-unused",
  "--max-repack-size",
  "--repack-cacheable-only",
  "--repack-small",
  "--repack-uncompressed",
]);

const durationExpression = /^(\d+[ymdh])+$/;
const subsetExpression = /^(\d+\/\d+|\d+(\.\d+)?%|\d+[kKmMgGtT]?)$/;
const partExpression = /^(\d+)\/(\d+)$/;

/** Options that name the repository, which the runner passes to restic as RESTIC_REPOSITORY. */
export const repositoryOptionNames: readonly string[] = ["-r", "--repo", "--repository-file"];

/** Options that give the password, which the runner passes to restic as RESTIC_PASSWORD_FILE. */
export const passwordOptionNames: readonly string[] = [
  "-p",
  "--password-file",
  "--password-command",
  "--key-hint",
];

/** Returns the option an argument names ("--repo" for "--repo=/x", "-r" for "-r/x"), or undefined for a value. */
export function optionName(arg: string): string | undefined {
  if (arg.startsWith("--")) return arg.split("=")[0];
  return arg.startsWith("-") && arg.length >= 2 ? arg.slice(0, 2) : undefined;
}

/** Returns the arguments before "--" that name one of names. */
export function argsNaming(args: readonly string[], names: readonly string[]): string[] {
  const endOfOptions = args.indexOf("--");
  return (endOfOptions === -1 ? args : args.slice(0, endOfOptions)).filter((arg) =>
    names.includes(optionName(arg) ?? ""),
  );
}

/** Returns the arguments of `restic init`. */
export function resticInitArgs(): string[] {
  return ["init"];
}

/** Returns the arguments of `restic backup` of one path with host, tags and time. Throws BackupError on an empty host or a tag restic would split or misread. */
export function resticBackupArgs(path: string, options: BackupArgsOptions): string[] {
  requireValue("host", options.host);
  if (path === "") throw new BackupError("Cannot build restic backup: the path is empty");
  const tags = [backupctlTag, ...(options.tags ?? [])].filter(
    (tag, index, all) => all.indexOf(tag) === index,
  );
  const args = ["backup", `--host=${options.host}`];
  for (const tag of tags) args.push(`--tag=${checkedTag(tag)}`);
  if (options.time) args.push(`--time=${formatResticTime(options.time)}`);
  // the unpacked archive is a fresh directory every run: new inodes and ctimes must not make restic
  // reread every unchanged file
  args.push("--ignore-inode", "--ignore-ctime", "--json");
  args.push(...(options.extraOptions ?? []), "--", path);
  return args;
}

/** Returns the arguments of `restic snapshots --json`, filtered by host and tags. Throws BackupError on an invalid tag. */
export function resticSnapshotsArgs(options: SnapshotsArgsOptions = {}): string[] {
  const args: string[] = [];
  if (options.isLockFree) args.push("--no-lock");
  args.push("snapshots", "--json");
  if (options.host !== undefined) args.push(`--host=${requireValue("host", options.host)}`);
  // one --tag with a comma list means "all of these"; several --tag flags would mean "any of these"
  if (options.tags && options.tags.length > 0) args.push(`--tag=${options.tags.map(checkedTag).join(",")}`);
  return args;
}

/** Returns the arguments of `restic forget` for a structured policy or a legacy option string split into argv. Throws BackupError when the policy keeps nothing or holds a value restic would misread. */
export function resticForgetArgs(
  policy: RetentionPolicy | readonly string[],
  options: ForgetArgsOptions,
): string[] {
  const policyArgs = isLegacyPolicy(policy) ? checkedLegacyPolicy(policy) : structuredPolicyArgs(policy);
  const args = ["forget", `--group-by=${options.groupBy ?? "host"}`];
  args.push(...policyArgs);
  if (options.prune) args.push("--prune");
  return args;
}

/** Returns the arguments of `restic forget` of the given snapshots by id, with --prune when asked. Throws BackupError when there is none or one is not a snapshot id. */
export function resticForgetSnapshotsArgs(ids: readonly string[], options: { prune: boolean }): string[] {
  if (ids.length === 0) throw new BackupError("Cannot build restic forget: no snapshot to forget");
  const malformed = ids.find((id) => !/^[0-9a-f]{8,64}$/.test(id));
  if (malformed !== undefined) {
    throw new BackupError(`Cannot build restic forget: "${malformed}" is not a snapshot id`);
  }
  return ["forget", ...(options.prune ? ["--prune"] : []), "--", ...ids];
}

/** Returns the arguments of `restic check`, with check_options and an optional --read-data-subset. Throws BackupError when the subset is malformed. */
export function resticCheckArgs(options: CheckArgsOptions = {}): string[] {
  const args = ["check", ...(options.options ?? [])];
  if (options.readDataSubset !== undefined) {
    if (!isValidReadDataSubset(options.readDataSubset)) {
      throw new BackupError(
        `Cannot build restic check: read_data_subset "${options.readDataSubset}" is not valid`,
        {
          code: "usage",
          hint: 'write "n/t" (such as "1/7"), a percentage ("10%") or a size ("500M")',
        },
      );
    }
    args.push(`--read-data-subset=${options.readDataSubset}`);
  }
  return args;
}

/** Returns the arguments of `restic unlock`, which removes stale locks only (never --remove-all). */
export function resticUnlockArgs(): string[] {
  return ["unlock"];
}

/** Returns the arguments of `restic restore` of one snapshot (an ID or "latest") into target. Throws BackupError when snapshot or target is empty. */
export function resticRestoreArgs(
  snapshot: string,
  target: string,
  options: RestoreArgsOptions = {},
): string[] {
  requireValue("snapshot", snapshot);
  requireValue("target", target);
  const args = ["restore", `--target=${target}`];
  if (options.host !== undefined) args.push(`--host=${requireValue("host", options.host)}`);
  for (const include of options.include ?? []) args.push(`--include=${requireValue("include", include)}`);
  args.push("--", snapshot);
  return args;
}

/** Returns the arguments of `restic stats --json`. */
export function resticStatsArgs(options: StatsArgsOptions = {}): string[] {
  const args = ["--no-lock", "stats", "--json"];
  if (options.mode !== undefined) args.push(`--mode=${options.mode}`);
  if (options.host !== undefined) args.push(`--host=${requireValue("host", options.host)}`);
  if (options.snapshot !== undefined) args.push("--", requireValue("snapshot", options.snapshot));
  return args;
}

/** Returns a date as restic's --time value "YYYY-MM-DD HH:MM:SS" in UTC. Throws RangeError on an invalid date. */
export function formatResticTime(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new RangeError("Cannot format an invalid date for restic --time");
  return date.toISOString().slice(0, 19).replace("T", " ");
}

/** Returns whether text is a --read-data-subset value restic accepts ("k/t" with 1 ≤ k ≤ t, "x%", a size). */
export function isValidReadDataSubset(text: string): boolean {
  if (!subsetExpression.test(text)) return false;
  const part = partExpression.exec(text);
  if (!part) return true;
  const [index, total] = [Number(part[1]), Number(part[2])];
  return total >= 1 && index >= 1 && index <= total;
}

/** Returns whether a policy is the legacy argv form. */
function isLegacyPolicy(policy: RetentionPolicy | readonly string[]): policy is readonly string[] {
  return Array.isArray(policy);
}

/** Returns the forget flags of a structured policy. Throws BackupError when it keeps nothing or a value is invalid. */
function structuredPolicyArgs(policy: RetentionPolicy): string[] {
  const args: string[] = [];
  for (const [key, flag] of retentionCountFlags) {
    const count = policy[key];
    if (count === undefined) continue;
    if (!Number.isInteger(count) || count < 0) {
      throw new BackupError(
        `Cannot build restic forget: ${key} is ${count}, not a whole number of snapshots`,
        {
          code: "usage",
        },
      );
    }
    // restic 0.14 reads 0 as "not set"; passing it would suggest a rule that does nothing
    if (count > 0) args.push(`${flag}=${count}`);
  }
  if (policy.keep_within !== undefined) {
    if (!durationExpression.test(policy.keep_within)) {
      throw new BackupError(
        `Cannot build restic forget: keep_within "${policy.keep_within}" is not a duration`,
        {
          code: "usage",
          hint: 'write it as restic does, such as "30d" or "1y6m"',
        },
      );
    }
    args.push(`--keep-within=${policy.keep_within}`);
  }
  for (const tag of policy.keep_tag ?? []) args.push(`--keep-tag=${checkedTag(tag)}`);
  if (args.length === 0) {
    throw new BackupError("Cannot build restic forget: the retention policy keeps nothing", {
      code: "usage",
      hint: "set at least one of keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within, keep_tag",
    });
  }
  return args;
}

/** Returns a legacy option argv after checking every flag is a forget retention flag. Throws BackupError otherwise. */
function checkedLegacyPolicy(policy: readonly string[]): string[] {
  const flags = policy.filter((argument) => argument.startsWith("-"));
  for (const flag of flags) {
    const name = flag.split("=", 1)[0] as string;
    if (legacyForgetFlags.has(name)) continue;
    throw new BackupError(`Cannot build restic forget: option "${flag}" is not a retention option`, {
      code: "usage",
      hint: "the forget options may hold only --keep-*, --group-by, --compact and prune tuning options",
    });
  }
  if (!flags.some((flag) => flag.startsWith("--keep") || /^-[lHdwmy]$/.test(flag))) {
    throw new BackupError("Cannot build restic forget: the retention options keep nothing", {
      code: "usage",
      hint: 'write at least one --keep-* option, such as "--keep-daily 7 --keep-weekly 4"',
    });
  }
  // the prune setting alone decides, so "prune: false" holds even when the old string said --prune
  return policy.filter((argument) => argument !== "--prune");
}

/** Returns a tag after checking restic will store it as written. Throws BackupError otherwise. */
function checkedTag(tag: string): string {
  // restic splits --tag values at commas, and an empty tag would be dropped
  if (tag === "" || tag.includes(",") || /[\s\p{Cc}]/u.test(tag)) {
    throw new BackupError(
      `Cannot use "${tag}" as a restic tag: tags must be non-empty, without commas or whitespace`,
      {
        code: "usage",
      },
    );
  }
  return tag;
}

/** Returns value unless it is empty. Throws BackupError naming what is missing. */
function requireValue(name: string, value: string): string {
  if (value === "") throw new BackupError(`Cannot build a restic command: the ${name} is empty`);
  return value;
}
