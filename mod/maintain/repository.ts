// Maintenance of one host's repository (DESIGN §8), under the repository lock `server pull` takes too:
// restic unlock (stale locks only) → forget with the host's policy, --prune when enabled, unless the
// host has stopped backing up, and never the last snapshot holding every service while the ones after
// it are partial → stats when asked → check with the rotating read-data subset. The
// outcome is returned, never thrown, so one damaged repository never stops the others.

import { join } from "node:path";
import type { ServerConfig, ServerHostConfig } from "../config/server.ts";
import { BackupError, errorMessage } from "../lib/errors.ts";
import type { InstanceLock } from "../lib/lock.ts";
import type { Logger } from "../lib/log.ts";
import { formatAge } from "../lib/time.ts";
import { resticForgetSnapshotsArgs, resticStatsArgs, resticUnlockArgs } from "../restic/args.ts";
import { newestCompleteBehindPartials, type Snapshot } from "../restic/output.ts";
import { selectReadDataSubset } from "../restic/read-data-subset.ts";
import { acquireRepositoryLock } from "../restic/repository-lock.ts";
import { listSnapshots, ResticError, type ResticRunOptions, runRestic } from "../restic/runner.ts";
import { type ForgetSummary, parseForgetLine } from "./forget-output.ts";
import { forgetSkipReason, maintainCheckArgs, maintainForgetArgs, newestSnapshotTime } from "./plan.ts";
import type { MaintainRun, ReadDataSubsetCounter } from "./state.ts";

/** What maintainRepository needs. */
export interface RepositoryMaintenanceOptions {
  config: ServerConfig;
  host: ServerHostConfig;
  logger: Logger;
  isDryRun: boolean;
  signal: AbortSignal;
  /** The part the rotating check reads this time, from the state. */
  storedPart: number | undefined;
  now?: () => Date;
}

/** How maintenance of one repository went, and the counter to store for the next run. */
export interface RepositoryMaintenanceResult {
  host: string;
  run: MaintainRun;
  /** Absent when the check did not rotate or did not pass (the same part is read again next time). */
  counter?: ReadDataSubsetCounter;
  /** From the host's maintain record: since when maintenance fails, when this run failed after others. */
  failingSince?: string;
  /** From the host's maintain record: since when maintenance had failed, when this run ended that. */
  recoveredFrom?: string;
}

/** A step failure: which step, and the error. */
class StepFailure extends Error {
  readonly step: string;

  constructor(step: string, cause: unknown) {
    super(errorMessage(cause), { cause });
    this.step = step;
  }
}

/** Maintains one host's repository and returns the outcome; never throws. */
export async function maintainRepository(
  options: RepositoryMaintenanceOptions,
): Promise<RepositoryMaintenanceResult> {
  const { config, host, logger, isDryRun } = options;
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const started = performance.now();
  const warnings: string[] = [];
  const run: Partial<MaintainRun> = { forget: "not-run", pruned: false, checked: false };
  let counter: ReadDataSubsetCounter | undefined;
  let failure: StepFailure | undefined;
  let repositoryLock: InstanceLock | undefined;
  const restic: ResticRunOptions = {
    repository: host.repository,
    passwordFile: host.password_file,
    resticCommand: config.restic.restic_cmd,
    cacheDir: join(config.global.state_dir, "restic-cache"),
    logger,
    signal: options.signal,
    isDryRun,
  };

  /** Runs one step; a failure is recorded with the step's name and ends the run. */
  async function step<T>(name: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw new StepFailure(name, error);
    }
  }

  /** Runs a forget argv; returns what its --json line says was kept and removed (undefined when it printed none). */
  async function runForget(args: string[]): Promise<ForgetSummary | undefined> {
    let summary: ForgetSummary | undefined;
    await step("forget", () =>
      runRestic(args, {
        ...restic,
        // --dry-run --no-lock only reads: run it, so the plan shows what would be removed
        isDryRun: false,
        stdout: (line) => {
          summary ??= parseForgetLine(line);
          if (!line.startsWith("[")) logger.debug(`restic forget: ${line}`);
        },
      }),
    );
    return summary;
  }

  /**
   * Applies the host's retention policy, except to the newest snapshot that holds every service when
   * all after it are partial: the policy is asked first (a dry run), and when it would remove that
   * snapshot, only the others it names are forgotten, with a warning. Returns what was (or would be)
   * kept and removed, and whether a prune ran.
   */
  async function forgetByPolicy(
    before: readonly Snapshot[],
  ): Promise<{ summary: ForgetSummary | undefined; pruned: boolean }> {
    const policyArgs = (asDryRun: boolean) =>
      maintainForgetArgs(host.maintenance, { host: host.hostname, isDryRun: asDryRun });
    const prunes = host.maintenance.prune && !isDryRun;
    const guarded = newestCompleteBehindPartials(before);
    const plan = guarded ? await runForget(policyArgs(true)) : undefined;
    if (!guarded || !plan?.removed.some((snapshot) => snapshot.id === guarded.id)) {
      if (plan && isDryRun) return { summary: plan, pruned: false };
      return { summary: await runForget(policyArgs(isDryRun)), pruned: prunes };
    }
    const partials = before.filter((snapshot) => snapshot.time.getTime() > guarded.time.getTime()).length;
    const warning = `Keeping snapshot ${guarded.shortId} (${guarded.time.toISOString().slice(0, 19)}) of "${host.hostname}" although its retention policy would remove it: it is the newest that holds every service, and the ${partials} after it are partial (a service has been failing since)`;
    warnings.push(warning);
    logger.warn(warning);
    const others = plan.removed.filter((snapshot) => snapshot.id !== guarded.id);
    const summary: ForgetSummary = {
      kept: [...plan.kept, { id: guarded.id, time: guarded.time.toISOString() }],
      removed: others,
    };
    if (isDryRun || others.length === 0) return { summary, pruned: false };
    await step("forget", () =>
      runRestic(
        resticForgetSnapshotsArgs(
          others.map((snapshot) => snapshot.id),
          { prune: host.maintenance.prune },
        ),
        { ...restic, stdout: (line) => logger.debug(`restic forget: ${line}`) },
      ),
    );
    return { summary, pruned: prunes };
  }

  try {
    if (!isDryRun) {
      repositoryLock = await step("lock", () =>
        acquireRepositoryLock(config.global.state_dir, host.hostname, {
          timeoutMs: config.global.repository_lock_wait,
          logger,
          signal: options.signal,
        }),
      );
    }
    // plain unlock removes only locks whose process is gone or that are older than 30 minutes: a
    // `restic backup` killed by SIGKILL or a power cut leaves one, and it would block forget and check.
    // It is also the first command to open the repository, so a missing one is reported here.
    await step("unlock", async () => {
      try {
        return await runRestic(resticUnlockArgs(), {
          ...restic,
          stdout: (line) => logger.debug(`restic unlock: ${line}`),
          stderrLevel: "debug",
        });
      } catch (error) {
        if (!(error instanceof ResticError && error.kind === "missing")) throw error;
        throw new BackupError(`There is no restic repository at "${host.repository}"`, {
          hint: `has "${host.hostname}" ever been pulled? server pull creates it when restic.init_missing_repos is true`,
        });
      }
    });

    const before = await step("forget", () => listSnapshots(restic, { host: host.hostname }));
    run.snapshots_before = before.length;
    const newest = newestSnapshotTime(before);
    if (newest) run.newest_snapshot = newest.toISOString();
    const skipReason = forgetSkipReason(before, { maxAgeMs: host.max_age, now: now() });
    if (skipReason === "stale" && newest) {
      const warning = `Not thinning out "${host.hostname}": its newest snapshot is ${formatAge(now().getTime() - newest.getTime())} old (max_age ${formatAge(host.max_age)}), so its last backups are kept until it backs up again`;
      warnings.push(warning);
      logger.warn(warning);
      run.forget = "skipped-stale";
    } else if (skipReason === "no-snapshots") {
      logger.info(`No snapshots of "${host.hostname}" yet: nothing to forget`);
      run.forget = "skipped-no-snapshots";
    } else {
      const { summary, pruned } = await forgetByPolicy(before);
      run.forget = isDryRun ? "dry-run" : "done";
      run.pruned = pruned;
      const removed = summary?.removed ?? [];
      const kept = summary
        ? summary.kept.length
        : (await step("forget", () => listSnapshots(restic, { host: host.hostname }))).length;
      if (!isDryRun) run.snapshots_after = kept;
      const removedList = removed.map(
        (snapshot) => `${snapshot.id.slice(0, 8)} (${snapshot.time.slice(0, 19)})`,
      );
      logger.info(
        isDryRun
          ? `Would keep ${kept} and remove ${removed.length} of ${before.length} snapshot(s)${removedList.length > 0 ? `: ${removedList.join(", ")}` : ""}${host.maintenance.prune ? ", then prune" : ""}`
          : `Kept ${kept} of ${before.length} snapshot(s)${removed.length > 0 && run.pruned ? ", removed the others and pruned unused data" : ""}`,
      );
    }

    if (host.maintenance.show_stats) {
      await step("stats", () =>
        runRestic(resticStatsArgs({ mode: "raw-data" }), {
          ...restic,
          isDryRun: false,
          stdout: (line) => logger.info(`restic stats: ${line}`),
        }),
      );
    }

    if (host.maintenance.check) {
      const configured = host.maintenance.read_data_subset;
      const selection =
        configured === undefined ? undefined : selectReadDataSubset(configured, options.storedPart);
      if (selection) run.read_data_subset = selection.subset;
      const checkArgs = maintainCheckArgs(host.maintenance, {
        ...(selection ? { readDataSubset: selection.subset } : {}),
      });
      const result = await step("check", () =>
        runRestic(checkArgs, {
          ...restic,
          stdout: (line) => logger.debug(`restic check: ${line}`),
        }),
      );
      if (!result.skipped) {
        run.checked = true;
        logger.info(`Repository check passed${selection ? ` (read data subset ${selection.subset})` : ""}`);
        // only a passed check moves on: a failing part is read again until the repository is repaired
        if (configured !== undefined && selection?.nextPart !== undefined) {
          counter = { configured, next_part: selection.nextPart };
        }
      }
    } else {
      logger.info("check: false, so the repository is not checked");
    }
  } catch (error) {
    failure = error instanceof StepFailure ? error : new StepFailure("maintain", error);
    logger.error(`Maintenance failed at ${failure.step}: ${failure.message}`);
  } finally {
    repositoryLock?.release();
  }

  const status = failure ? "failed" : warnings.length > 0 ? "warning" : "ok";
  return {
    host: host.hostname,
    run: {
      ...run,
      forget: run.forget ?? "not-run",
      pruned: run.pruned ?? false,
      checked: run.checked ?? false,
      status,
      started_at: startedAt.toISOString(),
      finished_at: now().toISOString(),
      duration_ms: Math.round(performance.now() - started),
      repository: host.repository,
      ...(failure ? { failed_step: failure.step, error: failure.message } : {}),
      warnings,
    },
    ...(counter ? { counter } : {}),
  };
}
