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
  maxAgeMs: number;
  now: Date;
}

/** A verdict and its words for the table. */
export interface Health {
  verdict: HealthVerdict;
  text: string;
}

/** Returns a host's health. A failing host is reported as failing even while its last backup is young enough. */
export function hostHealth(input: HealthInput): Health {
  if (input.newestBackup === undefined) {
    return {
      verdict: "never",
      text: input.failingSince ? `never backed up (failing since ${input.failingSince})` : "never backed up",
    };
  }
  if (input.failingSince) return { verdict: "failing", text: `failing since ${input.failingSince}` };
  const age = input.now.getTime() - input.newestBackup.getTime();
  if (age > input.maxAgeMs) {
    return {
      verdict: "stale",
      text: `stale: newest backup ${formatAge(age)} old (max_age ${formatAge(input.maxAgeMs)})`,
    };
  }
  return { verdict: "ok", text: "ok" };
}
