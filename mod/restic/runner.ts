// Runs restic through lib/exec.ts with the password in RESTIC_PASSWORD_FILE, and offers the few
// operations the stages need (backup, list snapshots, does the repository exist, create it) with
// their output parsed (output.ts) and their failures sorted into kinds (failure.ts).

import { readFileSync } from "node:fs";
import { BackupError, errorMessage } from "../lib/errors.ts";
import { type RunResult, run } from "../lib/exec.ts";
import { type Logger, type LogLevel, log, registerSecret } from "../lib/log.ts";
import {
  argsNaming,
  type BackupArgsOptions,
  repositoryOptionNames,
  resticBackupArgs,
  resticInitArgs,
  resticSnapshotsArgs,
  type SnapshotsArgsOptions,
} from "./args.ts";
import { ResticError, toResticError } from "./failure.ts";
import { type BackupSummary, parseBackupSummary, parseSnapshots, type Snapshot } from "./output.ts";

export { classifyResticFailure, ResticError, type ResticFailureKind } from "./failure.ts";
export { type BackupSummary, parseBackupSummary, parseSnapshots, type Snapshot } from "./output.ts";

/**
 * Where and how restic runs. The password reaches restic only as RESTIC_PASSWORD_FILE, and the
 * repository as RESTIC_REPOSITORY: a backend URL may carry credentials
 * (rest:https://user:secret@host/), and a command line is readable by every local user.
 */
export interface ResticRunOptions {
  /** The repository: a path or any backend URL. */
  repository: string;
  passwordFile: string;
  /** The restic command line, an argv prefix (default ["restic"], looked up in PATH): `tools.restic_cmd`. */
  resticCommand?: readonly string[];
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

/** The result of runBackup. */
export interface BackupOutcome {
  /** Absent only in dry-run. */
  summary: BackupSummary | undefined;
  /** restic exited 3: the snapshot exists but lacks files it could not read. */
  isPartial: boolean;
  result: ResticResult;
}

const partialExitCode = 3;
// with --json and no terminal restic prints ~60 status lines a second; once a minute is plenty
const progressLinesPerSecond = "0.0166";

/**
 * Runs restic with args (from args.ts) on options.repository. Throws BackupError when the repository
 * is empty or args name one (an option list from config, say), ResticError when restic fails; exit 3
 * is returned as isPartial.
 */
export async function runRestic(
  args: readonly string[],
  options: ResticRunOptions & ResticCommandOptions,
): Promise<ResticResult> {
  const repository = options.repository;
  if (repository.trim() === "") throw new BackupError("Cannot run restic: the repository is empty");
  // restic prefers a repository on its command line to RESTIC_REPOSITORY
  const [named] = argsNaming(args, repositoryOptionNames);
  if (named !== undefined) {
    throw new BackupError(
      `Cannot run restic on "${repository}": its options name a repository too ("${named}")`,
      {
        hint: "remove the repository option from the restic options in server_config.yml",
      },
    );
  }
  const argv = [...(options.resticCommand ?? ["restic"]), ...cacheArgs(options.cacheDir), ...args];
  registerPasswordFileSecret(options.passwordFile);
  try {
    const result = await run(argv, {
      env: { ...resticEnvironment(options.passwordFile), RESTIC_REPOSITORY: repository },
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
  const result = await runRestic(resticBackupArgs(path, options), {
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
  return await readSnapshots(options, filters, "warn");
}

/**
 * Returns the snapshots matching host and tags, oldest first, or undefined when the repository does
 * not exist: one restic call (one key derivation, ~0.5 s) where "does it exist?" and "what does it
 * hold?" would be two. Read-only, runs even in dry-run, without a lock. Throws ResticError for any
 * failure but "missing".
 */
export async function listSnapshotsIfRepository(
  options: ResticRunOptions,
  filters: SnapshotsArgsOptions = {},
): Promise<Snapshot[] | undefined> {
  try {
    // "Is there a repository…?" is an expected answer here, not a warning
    return await readSnapshots(options, filters, "debug");
  } catch (error) {
    if (error instanceof ResticError && error.kind === "missing") return undefined;
    throw error;
  }
}

/** Runs `restic snapshots --json` and parses it. Throws ResticError when restic fails or its output is not a snapshot list. */
async function readSnapshots(
  options: ResticRunOptions,
  filters: SnapshotsArgsOptions,
  stderrLevel: LogLevel,
): Promise<Snapshot[]> {
  const args = resticSnapshotsArgs({ isLockFree: true, ...filters });
  const result = await runRestic(args, {
    ...options,
    isDryRun: false,
    stdout: "capture",
    stderrLevel,
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

/** Creates the repository (logged only in dry-run). Throws ResticError when restic init fails. */
export async function initRepository(options: ResticRunOptions): Promise<void> {
  const logger = options.logger ?? log;
  const result = await runRestic(resticInitArgs(), {
    ...options,
    description: "create repository",
  });
  if (!result.skipped) logger.info(`created restic repository "${options.repository}"`);
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
