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

/** Records an attempt in the host's state file and returns the new state. */
export async function recordPullAttempt(
  stateDir: string,
  host: string,
  attempt: PullAttempt,
): Promise<HostState> {
  const previous = await readHostState(stateDir, host);
  const isFailure = attempt.status === "failed" || attempt.status === "locked";
  const next: HostState = {
    host,
    last_attempt: attempt,
    ...(attempt.status === "ok" || attempt.status === "partial"
      ? { last_success: attempt }
      : previous.last_success
        ? { last_success: previous.last_success }
        : {}),
    ...(isFailure ? { failing_since: previous.failing_since ?? attempt.started_at } : {}),
  };
  await mkdir(join(stateDir, "server", "hosts"), { recursive: true, mode: 0o700 });
  await writeJsonAtomic(hostStatePath(stateDir, host), next);
  return next;
}
