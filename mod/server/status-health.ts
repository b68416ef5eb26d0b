// The health verdict of one host for `server status`, a pure function with a table test: never backed
// up, failing since the first failed pull, stale when the newest backup is older than max_age, else ok.

import { formatAge } from "../lib/time.ts";

/** The verdicts, healthiest first; anything but "ok" makes `server status` exit 1. */
export type HealthVerdict = "ok" | "stale" | "failing" | "never";

/** What the verdict is drawn from. */
export interface HealthInput {
  /** The newest backup's time: the newest snapshot's (its archive time), else the last recorded success's archive time. */
  newestBackup: Date | undefined;
  /** From the state file: set while pulls fail. */
  failingSince: string | undefined;
  /** From the state file: how many pulls in a row failed (unknown from an older version). */
  failedAttempts?: number;
  maxAgeMs: number;
  now: Date;
}

/** A verdict and its words for the table. */
export interface Health {
  verdict: HealthVerdict;
  text: string;
}

/** Returns a count of failed pulls in words: "1 pull", "3 pulls in a row". */
export function failedPullsText(attempts: number): string {
  return attempts === 1 ? "1 pull" : `${attempts} pulls in a row`;
}

/** Returns a host's health. A failing host is reported as failing even while its last backup is young enough. */
export function hostHealth(input: HealthInput): Health {
  const failing = input.failingSince
    ? `failing since ${input.failingSince}${input.failedAttempts ? ` (${failedPullsText(input.failedAttempts)})` : ""}`
    : undefined;
  if (input.newestBackup === undefined) {
    return { verdict: "never", text: failing ? `never backed up (${failing})` : "never backed up" };
  }
  if (failing) return { verdict: "failing", text: failing };
  const age = input.now.getTime() - input.newestBackup.getTime();
  if (age > input.maxAgeMs) {
    return {
      verdict: "stale",
      text: `stale: newest backup ${formatAge(age)} old (max_age ${formatAge(input.maxAgeMs)})`,
    };
  }
  return { verdict: "ok", text: "ok" };
}
