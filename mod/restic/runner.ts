// Runs restic through lib/exec.ts and turns what it says into data: the --json backup summary, typed
// snapshots, and failures sorted into kinds (repository missing, locked, wrong password, interrupted)
// by exit code (restic ≥ 0.17) or by message (restic 0.14, which exits 1 for all of them).

import { readFileSync } from "node:fs";
import { BackupError, errorMessage } from "../lib/errors.ts";
import { CommandError, type RunResult, run } from "../lib/exec.ts";
import { type Logger, type LogLevel, log, registerSecret } from "../lib/log.ts";
import {
  type BackupArgsOptions,
  resticBackupArgs,
  resticCatConfigArgs,
  resticInitArgs,
  resticSnapshotsArgs,
  type SnapshotsArgsOptions,
} from "./args.ts";

/** Why a restic command failed. */
export type ResticFailureKind = "missing" | "locked" | "password" | "interrupted" | "failed";

/** Where and how restic runs; the password reaches restic only as RESTIC_PASSWORD_FILE. */
export interface ResticRunOptions {
  /** The repository the args name, for messages. */
  repository: string;
  passwordFile: string;
  /** The restic executable (default "restic", looked up in PATH). */
  resticCommand?: string;
  /** restic's cache directory (--cache-dir); restic's default (~/.cache/restic) when absent. */
  cacheDir?: string;
  logger?: Logger;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Log the command instead of running it. */
  isDryRun?: boolean;
}

/** Per-command options of runRestic. */
export interface ResticCommandOptions {
  /** "capture" keeps stdout (default); a function gets one call per line and nothing is kept. */
  stdout?: "capture" | ((line: string) => void);
  /** Level of restic's stderr lines in the log (default "warn"). */
  stderrLevel?: LogLevel;
  /** What the command does, for messages ("back up host web01"). */
  description?: string;
}

/** The outcome of a restic command that did not fail. */
export interface ResticResult {
  argv: string[];
  exitCode: number | null;
  /** restic exited 3: the snapshot was written, but some source files could not be read. */
  isPartial: boolean;
  stdout?: string;
  stderrTail: string[];
  durationMs: number;
  /** Dry-run: nothing ran. */
  skipped: boolean;
}

/** The final `"message_type":"summary"` line of `restic backup --json`. */
export interface BackupSummary {
  /** restic 0.14 reports the short (8 hex digit) ID here. */
  snapshotId: string;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  dataBlobs: number;
  treeBlobs: number;
  /** Bytes added to the repository (after deduplication). */
  dataAdded: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
  totalDurationSeconds: number;
}

/** One snapshot of `restic snapshots --json`. */
export interface Snapshot {
  id: string;
  shortId: string;
  time: Date;
  host: string;
  tags: string[];
  paths: string[];
}

/** The result of runBackup. */
export interface BackupOutcome {
  /** Absent only in dry-run. */
  summary: BackupSummary | undefined;
  /** restic exited 3: the snapshot exists but lacks files it could not read. */
  isPartial: boolean;
  result: ResticResult;
}

/** A failed restic command: a BackupError that also says which kind of failure it was. */
export class ResticError extends BackupError {
  readonly kind: ResticFailureKind;
  /** restic's own exit status (null when it was killed or never started). */
  readonly resticExitCode: number | null;
  readonly stderrTail: string[];

  constructor(
    message: string,
    options: {
      kind: ResticFailureKind;
      resticExitCode: number | null;
      stderrTail: string[];
      hint?: string;
      cause?: unknown;
    },
  ) {
    super(message, { hint: options.hint, cause: options.cause });
    this.name = "ResticError";
    this.kind = options.kind;
    this.resticExitCode = options.resticExitCode;
    this.stderrTail = options.stderrTail;
  }
}

// restic ≥ 0.17 documents these (doc/075_scripting.rst); 0.14 exits 1 and says it in words
const exitCodeKinds: Record<number, ResticFailureKind> = {
  10: "missing",
  11: "locked",
  12: "password",
  130: "interrupted",
};
const partialExitCode = 3;
// with --json and no terminal restic prints ~60 status lines a second; once a minute is plenty
const progressLinesPerSecond = "0.0166";

/** Runs restic with args (from args.ts). Throws ResticError when restic fails; exit 3 is returned as isPartial. */
export async function runRestic(
  args: readonly string[],
  options: ResticRunOptions & ResticCommandOptions,
): Promise<ResticResult> {
  const argv = [options.resticCommand ?? "restic", ...cacheArgs(options.cacheDir), ...args];
  registerPasswordFileSecret(options.passwordFile);
  try {
    const result = await run(argv, {
      env: resticEnvironment(options.passwordFile),
      stdout: options.stdout ?? "capture",
      stderrLevel: options.stderrLevel ?? "warn",
      okExitCodes: [0, partialExitCode],
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      logger: options.logger ?? log,
      isDryRun: options.isDryRun,
      description: options.description,
    });
    return toResticResult(result);
  } catch (error) {
    throw toResticError(error, args, options);
  }
}

/** Backs up one path with host, tags and time and returns the parsed summary. Throws ResticError when restic fails or reports no summary. */
export async function runBackup(
  path: string,
  options: ResticRunOptions & BackupArgsOptions & { description?: string },
): Promise<BackupOutcome> {
  const logger = options.logger ?? log;
  let summaryLine: string | undefined;
  const onLine = (line: string) => {
    if (line.includes('"message_type":"summary"')) summaryLine = line;
    else if (line.includes('"message_type":"status"')) logger.debug(`restic progress: ${line}`);
  };
  const result = await runRestic(resticBackupArgs(options.repository, path, options), {
    ...options,
    stdout: onLine,
    description: options.description ?? `back up "${path}"`,
  });
  if (result.skipped) return { summary: undefined, isPartial: false, result };
  const summary = summaryLine === undefined ? undefined : parseBackupSummary(summaryLine);
  if (!summary) {
    throw new ResticError(
      `Cannot back up "${path}" into repository "${options.repository}": restic exited ${result.exitCode} without a summary`,
      { kind: "failed", resticExitCode: result.exitCode, stderrTail: result.stderrTail },
    );
  }
  if (result.isPartial)
    logger.warn(`restic could not read some files of "${path}"; snapshot ${summary.snapshotId} is partial`);
  return { summary, isPartial: result.isPartial, result };
}

/** Returns the snapshots matching host and tags, oldest first. Read-only, so it runs even in dry-run, without a lock by default. Throws ResticError when restic fails or its output is not a snapshot list. */
export async function listSnapshots(
  options: ResticRunOptions,
  filters: SnapshotsArgsOptions = {},
): Promise<Snapshot[]> {
  const args = resticSnapshotsArgs(options.repository, { isLockFree: true, ...filters });
  const result = await runRestic(args, {
    ...options,
    isDryRun: false,
    stdout: "capture",
    description: "list snapshots",
  });
  try {
    return parseSnapshots(result.stdout ?? "");
  } catch (error) {
    throw new ResticError(
      `Cannot list snapshots of repository "${options.repository}": ${errorMessage(error)}`,
      {
        kind: "failed",
        resticExitCode: result.exitCode,
        stderrTail: result.stderrTail,
        cause: error,
      },
    );
  }
}

/** Returns whether the repository exists (and the password opens it). Read-only, so it runs even in dry-run. Throws ResticError for any failure but "missing". */
export async function repositoryExists(options: ResticRunOptions): Promise<boolean> {
  try {
    await runRestic(resticCatConfigArgs(options.repository), {
      ...options,
      isDryRun: false,
      stdout: "capture",
      // "Is there a repository…?" is the expected answer here, not a warning
      stderrLevel: "debug",
      description: "open repository",
    });
    return true;
  } catch (error) {
    if (error instanceof ResticError && error.kind === "missing") return false;
    throw error;
  }
}

/** Creates the repository (logged only in dry-run). Throws ResticError when restic init fails. */
export async function initRepository(options: ResticRunOptions): Promise<void> {
  const logger = options.logger ?? log;
  const result = await runRestic(resticInitArgs(options.repository), {
    ...options,
    description: "create repository",
  });
  if (!result.skipped) logger.info(`created restic repository "${options.repository}"`);
}

/** Returns the last summary message of `restic backup --json` output, or undefined when there is none. */
export function parseBackupSummary(stdout: string): BackupSummary | undefined {
  const lines = stdout.split("\n");
  for (let index = lines.length - 1; index >= 0; index--) {
    const line = (lines[index] as string).trim();
    if (!line.startsWith("{") || !line.includes('"summary"')) continue;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      continue;
    }
    if (!isRecord(message) || message.message_type !== "summary") continue;
    const snapshotId = message.snapshot_id;
    if (typeof snapshotId !== "string" || snapshotId === "") return undefined;
    const count = (key: string) => (typeof message[key] === "number" ? (message[key] as number) : 0);
    return {
      snapshotId,
      filesNew: count("files_new"),
      filesChanged: count("files_changed"),
      filesUnmodified: count("files_unmodified"),
      dirsNew: count("dirs_new"),
      dirsChanged: count("dirs_changed"),
      dirsUnmodified: count("dirs_unmodified"),
      dataBlobs: count("data_blobs"),
      treeBlobs: count("tree_blobs"),
      dataAdded: count("data_added"),
      totalFilesProcessed: count("total_files_processed"),
      totalBytesProcessed: count("total_bytes_processed"),
      totalDurationSeconds: count("total_duration"),
    };
  }
  return undefined;
}

/** Returns the snapshots of `restic snapshots --json` output, oldest first. Throws BackupError when it is not a snapshot list. */
export function parseSnapshots(stdout: string): Snapshot[] {
  let parsed: unknown;
  try {
    // restic prints "null" rather than "[]" when a filter matches nothing in some versions
    parsed = JSON.parse(stdout.trim() === "" ? "[]" : stdout) ?? [];
  } catch (error) {
    throw new BackupError(`Cannot parse restic snapshots output: ${errorMessage(error)}`);
  }
  if (!Array.isArray(parsed)) throw new BackupError("Cannot parse restic snapshots output: not a JSON array");
  const snapshots = parsed.map((entry, index): Snapshot => {
    if (!isRecord(entry) || typeof entry.id !== "string" || typeof entry.time !== "string") {
      throw new BackupError(`Cannot parse restic snapshots output: entry ${index} has no id or time`);
    }
    const time = new Date(entry.time);
    if (Number.isNaN(time.getTime())) {
      throw new BackupError(
        `Cannot parse restic snapshots output: entry ${index} has the time "${entry.time}"`,
      );
    }
    return {
      id: entry.id,
      shortId: typeof entry.short_id === "string" ? entry.short_id : entry.id.slice(0, 8),
      time,
      host: typeof entry.hostname === "string" ? entry.hostname : "",
      tags: stringList(entry.tags),
      paths: stringList(entry.paths),
    };
  });
  return snapshots.sort((left, right) => left.time.getTime() - right.time.getTime());
}

/** Returns the kind of a restic failure from its exit code and the last lines of its stderr. */
export function classifyResticFailure(
  exitCode: number | null,
  stderrTail: readonly string[],
): ResticFailureKind {
  const byCode = exitCode === null ? undefined : exitCodeKinds[exitCode];
  if (byCode) return byCode;
  const text = stderrTail.join("\n");
  if (/wrong password|no key found|Resolving password failed|password file/i.test(text)) return "password";
  if (/repository is already locked|unable to create lock|unable to refresh lock/i.test(text))
    return "locked";
  // 0.14 says "Is there a repository…?" also when the server is unreachable; only "not there" means missing
  const isNoConfig = /unable to open config file|Is there a repository at the following location/i.test(text);
  const isAbsent = /no such file or directory|not found|does not exist|\b404\b/i.test(text);
  const isUnreachable = /connection refused|no such host|timeout|network is unreachable/i.test(text);
  if (isNoConfig && isAbsent && !isUnreachable) return "missing";
  return "failed";
}

/** Returns the global arguments for a cache directory. */
function cacheArgs(cacheDir: string | undefined): string[] {
  return cacheDir === undefined ? [] : [`--cache-dir=${cacheDir}`];
}

/** Returns restic's environment: the password file, UTC for --time, slow progress, no inherited repository or password. */
function resticEnvironment(passwordFile: string): Record<string, string | undefined> {
  return {
    RESTIC_PASSWORD_FILE: passwordFile,
    // an inherited RESTIC_PASSWORD_COMMAND makes restic refuse the password file; the others would
    // silently point restic somewhere else
    RESTIC_PASSWORD: undefined,
    RESTIC_PASSWORD_COMMAND: undefined,
    RESTIC_REPOSITORY: undefined,
    RESTIC_REPOSITORY_FILE: undefined,
    RESTIC_KEY_HINT: undefined,
    // restic reads --time in the local zone; args.ts writes it in UTC
    TZ: "UTC",
    RESTIC_PROGRESS_FPS: progressLinesPerSecond,
  };
}

/** Registers the repository password as a log secret, so no restic output can echo it. */
function registerPasswordFileSecret(passwordFile: string): void {
  try {
    registerSecret(readFileSync(passwordFile, "utf8"));
  } catch {
    // restic reports an unreadable password file itself, with its own words
  }
}

/** Returns the ResticResult of an exec result. */
function toResticResult(result: RunResult): ResticResult {
  return {
    argv: result.argv,
    exitCode: result.exitCode,
    isPartial: result.exitCode === partialExitCode,
    ...(result.stdout === undefined ? {} : { stdout: result.stdout }),
    stderrTail: result.stderrTail,
    durationMs: result.durationMs,
    skipped: result.skipped,
  };
}

/** Returns the ResticError for anything runRestic caught. */
function toResticError(
  error: unknown,
  args: readonly string[],
  options: ResticRunOptions & ResticCommandOptions,
): ResticError {
  if (error instanceof ResticError) return error;
  const action = options.description ?? `run restic ${resticSubcommand(args)}`;
  const where = `Cannot ${action} in repository "${options.repository}"`;
  if (!(error instanceof CommandError)) {
    return new ResticError(`${where}: ${errorMessage(error)}`, {
      kind: "failed",
      resticExitCode: null,
      stderrTail: [],
      cause: error,
    });
  }
  const { exitCode, stderrTail } = error.result;
  const details = { resticExitCode: exitCode, stderrTail, cause: error };
  if (error.failure === "abort")
    return new ResticError(`${where}: interrupted`, { kind: "interrupted", ...details });
  if (error.failure !== "exit-code")
    return new ResticError(`${where}: ${error.message}`, { kind: "failed", ...details });
  const kind = classifyResticFailure(exitCode, stderrTail);
  switch (kind) {
    case "missing":
      return new ResticError(`${where}: there is no restic repository`, {
        kind,
        ...details,
        hint: "set restic.init_missing_repos: true, or create it with restic init",
      });
    case "locked":
      return new ResticError(`${where}: ${lockLine(stderrTail)}`, {
        kind,
        ...details,
        hint: "another restic process is using it; a stale lock is removed by `backupctl maintain` (restic unlock)",
      });
    case "password":
      return new ResticError(`${where}: ${passwordReason(stderrTail, options.passwordFile)}`, {
        kind,
        ...details,
        hint: "check restic.password_file: it must exist and hold this repository's password",
      });
    case "interrupted":
      return new ResticError(`${where}: interrupted`, { kind, ...details });
    default:
      return new ResticError(`${where}: ${error.message}`, { kind, ...details });
  }
}

/** Returns why the password did not work: an unreadable file or a wrong password. */
function passwordReason(stderrTail: readonly string[], passwordFile: string): string {
  const isUnreadable = stderrTail.some((line) => line.includes("Resolving password failed"));
  return isUnreadable
    ? `cannot read the password file "${passwordFile}"`
    : `the password in "${passwordFile}" does not open it`;
}

/** Returns the stderr line that says who holds the lock, or a generic reason. */
function lockLine(stderrTail: readonly string[]): string {
  const line = stderrTail.find((text) => /locked/i.test(text));
  return line ? line.replace(/^Fatal:\s*/, "") : "the repository is locked";
}

/** Returns the restic subcommand of an argument list ("backup", "check", …). */
function resticSubcommand(args: readonly string[]): string {
  return args.find((argument) => !argument.startsWith("-")) ?? "";
}

/** Returns the strings of a JSON value that should be a string list. */
function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

/** Returns whether value is a plain JSON object. */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
