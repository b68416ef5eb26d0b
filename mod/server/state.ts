// The server's record of each host (DESIGN §7.7): one JSON file per host under
// `<state_dir>/server/hosts/`, written atomically, so concurrent host pulls never share a file and
// `server status` can show the last attempt and the last success without touching a repository.

import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeJsonAtomic } from "../lib/atomic.ts";
import { errnoCode } from "../lib/errors.ts";

/** How one pull of one host ended. */
export type PullStatus = "ok" | "partial" | "up-to-date" | "locked" | "failed";

/** One pull attempt of a host. */
export interface PullAttempt {
  status: PullStatus;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  archive?: string;
  archive_timestamp?: string;
  archive_bytes?: number;
  unpacked_bytes?: number;
  entries?: number;
  snapshot_id?: string;
  files_new?: number;
  files_changed?: number;
  files_unmodified?: number;
  bytes_added?: number;
  fetch_ms?: number;
  ingest_ms?: number;
  error?: string;
  warnings: string[];
}

/** Everything recorded about one host. */
export interface HostState {
  host: string;
  last_attempt?: PullAttempt;
  /** The last attempt that stored a snapshot ("up-to-date" runs confirm it but do not replace it). */
  last_success?: PullAttempt;
  /** When the current run of failures began; absent while the host is healthy. */
  failing_since?: string;
  /** Failed or skipped pulls in that run, the last one included; absent while the host is healthy. */
  failed_attempts?: number;
}

/** A run of failed or skipped pulls of one host. */
export interface FailureStreak {
  /** When its first pull started. */
  since: string;
  /** How many pulls in a row failed or were skipped (unknown for a run recorded by an older version). */
  attempts?: number;
}

/** What a host's record says about an attempt just recorded: the run of failures it continues or ends. */
export interface RecordedAttempt {
  /** The run of failures this attempt belongs to, when it failed. */
  failing?: FailureStreak;
  /** The run of failures this attempt ended, when it succeeded after failures. */
  recovered?: FailureStreak;
  /** When the last snapshot before this attempt was stored, if one is on record. */
  previousSuccessAt?: string;
}

/** Returns the state file of a host. */
export function hostStatePath(stateDir: string, host: string): string {
  return join(stateDir, "server", "hosts", `${host}.json`);
}

/** Reads a host's state; an absent file is an empty state. */
export async function readHostState(stateDir: string, host: string): Promise<HostState> {
  try {
    return JSON.parse(await readFile(hostStatePath(stateDir, host), "utf8")) as HostState;
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return { host };
    throw error;
  }
}

/** Returns whether an attempt counts as a success (a snapshot exists for the newest archive). */
export function isSuccessful(status: PullStatus): boolean {
  return status === "ok" || status === "partial" || status === "up-to-date";
}

/** Returns the run of failures on record, if the host is failing. */
function recordedStreak(state: HostState): FailureStreak | undefined {
  if (!state.failing_since) return undefined;
  return state.failed_attempts
    ? { since: state.failing_since, attempts: state.failed_attempts }
    : { since: state.failing_since };
}

/** Returns the run of failures a failed attempt continues, or the one it starts. */
function continueStreak(previous: FailureStreak | undefined, attempt: PullAttempt): FailureStreak {
  if (!previous) return { since: attempt.started_at, attempts: 1 };
  return previous.attempts
    ? { since: previous.since, attempts: previous.attempts + 1 }
    : { since: previous.since };
}

/** Records an attempt in the host's state file; returns the run of failures it continues or ends. */
export async function recordPullAttempt(
  stateDir: string,
  host: string,
  attempt: PullAttempt,
): Promise<RecordedAttempt> {
  const previous = await readHostState(stateDir, host);
  const isFailure = attempt.status === "failed" || attempt.status === "locked";
  const previousStreak = recordedStreak(previous);
  const failing = isFailure ? continueStreak(previousStreak, attempt) : undefined;
  const next: HostState = {
    host,
    last_attempt: attempt,
    ...(attempt.status === "ok" || attempt.status === "partial"
      ? { last_success: attempt }
      : previous.last_success
        ? { last_success: previous.last_success }
        : {}),
    ...(failing ? { failing_since: failing.since } : {}),
    ...(failing?.attempts ? { failed_attempts: failing.attempts } : {}),
  };
  await mkdir(join(stateDir, "server", "hosts"), { recursive: true, mode: 0o700 });
  await writeJsonAtomic(hostStatePath(stateDir, host), next);
  return {
    ...(failing ? { failing } : {}),
    ...(!isFailure && previousStreak ? { recovered: previousStreak } : {}),
    ...(previous.last_success ? { previousSuccessAt: previous.last_success.finished_at } : {}),
  };
}
