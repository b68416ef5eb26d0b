// restic failures as data: the kind (repository missing, locked, wrong password, interrupted, or
// anything else) from the exit code (restic ≥ 0.17) or from the message (restic 0.14 exits 1 for all
// of them), and a ResticError whose message names the action, the repository and the reason.

import { BackupError, errorMessage } from "../lib/errors.ts";
import { CommandError } from "../lib/exec.ts";

/** Why a restic command failed. */
export type ResticFailureKind = "missing" | "locked" | "password" | "interrupted" | "failed";

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

/** What toResticError needs to word the message. */
export interface ResticFailureContext {
  repository: string;
  passwordFile: string;
  /** What the command did ("back up host web01"); "run restic <subcommand>" when absent. */
  description?: string;
}

/** Returns the ResticError for anything a restic run threw. */
export function toResticError(
  error: unknown,
  args: readonly string[],
  options: ResticFailureContext,
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
