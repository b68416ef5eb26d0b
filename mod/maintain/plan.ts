// What `backupctl maintain` runs against one repository, as pure functions with table tests: the
// forget and check argv from a host's effective maintenance settings, and whether its snapshots may be
// thinned out at all (never when the host has stopped backing up: its last snapshots are all it has).

import type { Maintenance } from "../config/maintenance.ts";
import { type RetentionPolicy, resticCheckArgs, resticForgetArgs } from "../restic/args.ts";
import type { Snapshot } from "../restic/output.ts";

/** Options of maintainForgetArgs. */
export interface ForgetPlanOptions {
  /** The host whose snapshots the policy applies to. */
  host: string;
  /** List what would be removed: `--dry-run`, and `--no-lock` so not even a lock file is written. */
  isDryRun: boolean;
}

/** When forget may run: the host's max_age against the time of its newest snapshot. */
export interface ThinningOptions {
  maxAgeMs: number;
  now: Date;
}

/** Why forget does not run for a repository, or undefined when it does. */
export type ForgetSkipReason = "no-snapshots" | "stale";

/** Returns the retention part of a host's maintenance: the legacy option argv, or the keep_* policy. */
export function retentionPolicyOf(maintenance: Maintenance): RetentionPolicy | readonly string[] {
  if (maintenance.forget_options !== undefined) return maintenance.forget_options;
  const policy: RetentionPolicy = {};
  const counts = [
    "keep_last",
    "keep_hourly",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "keep_yearly",
  ] as const;
  for (const key of counts) {
    const value = maintenance[key];
    if (value !== undefined) policy[key] = value;
  }
  if (maintenance.keep_within !== undefined) policy.keep_within = maintenance.keep_within;
  if (maintenance.keep_tag !== undefined) policy.keep_tag = maintenance.keep_tag;
  return policy;
}

/** Returns the `restic forget` argv for one host: its policy, grouped by host, limited to this host's snapshots, `--prune` when prune is on. Throws BackupError when the policy keeps nothing or holds a value restic would misread. */
export function maintainForgetArgs(maintenance: Maintenance, options: ForgetPlanOptions): string[] {
  const args = resticForgetArgs(retentionPolicyOf(maintenance), {
    prune: maintenance.prune,
    groupBy: "host",
  });
  // a snapshot of another host in this repository (made by hand, say) is never thinned by this policy;
  // --json gives what was kept and removed (forget-output.ts) without listing the snapshots again
  args.push(`--host=${options.host}`, "--json");
  if (options.isDryRun) args.push("--dry-run", "--no-lock");
  return args;
}

/** Returns the `restic check` argv with check_options and this run's read-data subset. Throws BackupError when the subset is malformed. */
export function maintainCheckArgs(
  maintenance: Maintenance,
  options: { readDataSubset?: string } = {},
): string[] {
  return resticCheckArgs({
    options: maintenance.check_options,
    ...(options.readDataSubset === undefined ? {} : { readDataSubset: options.readDataSubset }),
  });
}

/** Returns why forget must not run: no snapshots of the host, or its newest is older than max_age; undefined when it may run. */
export function forgetSkipReason(
  snapshots: readonly Pick<Snapshot, "time">[],
  options: ThinningOptions,
): ForgetSkipReason | undefined {
  const newest = newestSnapshotTime(snapshots);
  if (newest === undefined) return "no-snapshots";
  if (options.now.getTime() - newest.getTime() > options.maxAgeMs) return "stale";
  return undefined;
}

/** Returns the time of the newest snapshot, or undefined when there is none. */
export function newestSnapshotTime(snapshots: readonly Pick<Snapshot, "time">[]): Date | undefined {
  let newest: Date | undefined;
  for (const snapshot of snapshots) {
    if (newest === undefined || snapshot.time.getTime() > newest.getTime()) newest = snapshot.time;
  }
  return newest;
}
