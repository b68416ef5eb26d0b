// The record of `backupctl maintain`, one JSON file per host under `<state_dir>/server/maintain/`,
// written atomically: the last run's steps and result, since when the repository fails, and the
// rotating read-data-subset counter (the part the next check reads).

import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeJsonAtomic } from "../lib/atomic.ts";
import { errnoCode } from "../lib/errors.ts";

/** How maintenance of one repository ended. */
export type MaintainStatus = "ok" | "warning" | "failed";

/** What forget did. */
export type ForgetOutcome = "done" | "dry-run" | "skipped-stale" | "skipped-no-snapshots" | "not-run";

/** One maintenance run of one repository. */
export interface MaintainRun {
  status: MaintainStatus;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  repository: string;
  /** Snapshots of the host before and after forget. */
  snapshots_before?: number;
  snapshots_after?: number;
  /** Time of the host's newest snapshot (its archive time). */
  newest_snapshot?: string;
  forget: ForgetOutcome;
  /** forget ran with --prune. */
  pruned: boolean;
  /** restic check ran and passed. */
  checked: boolean;
  /** The --read-data-subset this run's check used. */
  read_data_subset?: string;
  /** The step that failed: lock, unlock (which also opens the repository), forget, stats or check. */
  failed_step?: string;
  error?: string;
  warnings: string[];
}

/** The rotating read-data-subset counter of a repository. */
export interface ReadDataSubsetCounter {
  /** The configured value the counter belongs to ("1/7"). */
  configured: string;
  /** The part the next check reads. */
  next_part: number;
}

/** Everything maintain records about one host's repository. */
export interface MaintainHostState {
  host: string;
  last_run?: MaintainRun;
  /** When maintenance last ended without failure. */
  last_success?: string;
  /** When the current run of failures began; absent while maintenance succeeds. */
  failing_since?: string;
  read_data_subset?: ReadDataSubsetCounter;
}

/** Returns the maintain state file of a host: `<state_dir>/server/maintain/<host>.json`. */
export function maintainStatePath(stateDir: string, host: string): string {
  return join(stateDir, "server", "maintain", `${host}.json`);
}

/** Reads a host's maintain state; an absent file is an empty state. Throws when the file cannot be read or parsed. */
export async function readMaintainState(stateDir: string, host: string): Promise<MaintainHostState> {
  try {
    return JSON.parse(await readFile(maintainStatePath(stateDir, host), "utf8")) as MaintainHostState;
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return { host };
    throw error;
  }
}

/** Returns the stored next part of the read-data-subset rotation, when it belongs to the configured value's total. */
export function storedNextPart(state: MaintainHostState, configured: string | undefined): number | undefined {
  const counter = state.read_data_subset;
  if (!counter || configured === undefined) return undefined;
  // a changed total restarts the rotation only through selectReadDataSubset's wrap-around; a changed
  // notation ("5%") has nothing to rotate
  return counter.configured.split("/")[1] === configured.split("/")[1] ? counter.next_part : undefined;
}

/** Returns the next state after a run: the run, success and failure times, and the counter (kept when nextPart is undefined). */
export function nextMaintainState(
  previous: MaintainHostState,
  outcome: { run: MaintainRun; counter?: ReadDataSubsetCounter },
): MaintainHostState {
  const { run, counter } = outcome;
  const isFailure = run.status === "failed";
  const readDataSubset = counter ?? previous.read_data_subset;
  return {
    host: previous.host,
    last_run: run,
    ...(isFailure
      ? previous.last_success
        ? { last_success: previous.last_success }
        : {}
      : { last_success: run.finished_at }),
    ...(isFailure ? { failing_since: previous.failing_since ?? run.started_at } : {}),
    ...(readDataSubset ? { read_data_subset: readDataSubset } : {}),
  };
}

/** Writes a host's maintain state atomically (0600). Throws BackupError when it cannot be written. */
export async function writeMaintainState(stateDir: string, state: MaintainHostState): Promise<void> {
  await mkdir(join(stateDir, "server", "maintain"), { recursive: true, mode: 0o700 });
  await writeJsonAtomic(maintainStatePath(stateDir, state.host), state);
}
