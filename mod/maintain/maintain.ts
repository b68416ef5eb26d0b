// `backupctl maintain` (Stage 3, DESIGN §8): under its own instance lock, maintain every configured
// host's repository (or --host) one after the other, record each result and the check rotation in
// the state, print a table and mail the problems. Exit 0 all ok, 3 some failed, 1 all failed.

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { BackupError, ExitCode, errorMessage } from "../lib/errors.ts";
import { InstanceLock } from "../lib/lock.ts";
import { log, setLogLevel } from "../lib/log.ts";
import { sendPing } from "../notify/ping.ts";
import { loadServerSettings, selectHosts } from "../server/pull.ts";
import { mailMaintainReport, maintainTable } from "./report.ts";
import { maintainRepository, type RepositoryMaintenanceResult } from "./repository.ts";
import {
  type MaintainHostState,
  nextMaintainState,
  readMaintainState,
  storedNextPart,
  writeMaintainState,
} from "./state.ts";

/** Options of `maintain`. */
export interface MaintainOptions {
  configDir: string;
  isDryRun: boolean;
  /** Only these hosts. */
  hosts?: string[];
  signal: AbortSignal;
  hasExplicitLogLevel: boolean;
  output: { stdout(text: string): void };
}

/** Returns the path of maintain's instance lock. */
export function maintainLockPath(stateDir: string): string {
  return join(stateDir, "server", "maintain.lock");
}

/** Runs `maintain` and returns its exit status. Throws BackupError when the config is invalid (2) or another maintain runs (75). */
export async function runMaintain(options: MaintainOptions): Promise<number> {
  const logger = log.child("maintain");
  const config = loadServerSettings(options.configDir, logger);
  if (!options.hasExplicitLogLevel) setLogLevel(config.global.log_level);
  const hosts = selectHosts(config, options.hosts);
  const stateDir = config.global.state_dir;

  let instanceLock: InstanceLock | undefined;
  if (!options.isDryRun) {
    await mkdir(join(stateDir, "server"), { recursive: true, mode: 0o700 });
    instanceLock = InstanceLock.tryAcquire(maintainLockPath(stateDir));
    if (!instanceLock) {
      const holder = InstanceLock.readHolder(maintainLockPath(stateDir));
      throw new BackupError(`Another "backupctl maintain" is running${holder ? ` (pid ${holder})` : ""}`, {
        code: "locked",
        hint: "this run was skipped; nothing was changed",
      });
    }
  }
  const ping = config.restic.maintenance.ping;
  try {
    await sendPing(ping, "start", { logger, isDryRun: options.isDryRun });
    logger.info(
      `Maintaining ${hosts.length} repositor${hosts.length === 1 ? "y" : "ies"}${options.isDryRun ? " (dry run: nothing is removed, unlocked or written)" : ""}`,
    );
    const results: RepositoryMaintenanceResult[] = [];
    for (const host of hosts) {
      const hostLogger = logger.child(host.hostname);
      if (options.signal.aborted) {
        results.push(notStarted(host.hostname, host.repository));
        continue;
      }
      let previous: MaintainHostState = { host: host.hostname };
      try {
        previous = await readMaintainState(stateDir, host.hostname);
      } catch (error) {
        // a damaged state file only costs the check rotation its place
        hostLogger.warn(`Cannot read the maintain state of "${host.hostname}": ${errorMessage(error)}`);
      }
      const result = await maintainRepository({
        config,
        host,
        logger: hostLogger,
        isDryRun: options.isDryRun,
        signal: options.signal,
        storedPart: storedNextPart(previous, host.maintenance.read_data_subset),
      });
      if (options.isDryRun) {
        results.push(result);
        continue;
      }
      results.push({ ...result, ...failureHistory(previous, result) });
      await writeMaintainState(stateDir, nextMaintainState(previous, result)).catch((error) =>
        hostLogger.warn(`Cannot record the result in "${stateDir}": ${errorMessage(error)}`),
      );
    }

    options.output.stdout(`${maintainTable(results)}\n`);
    await mailMaintainReport({ config, results, isDryRun: options.isDryRun, logger });
    const failed = results.filter((result) => result.run.status === "failed");
    await sendPing(ping, failed.length === 0 ? "success" : "failure", { logger, isDryRun: options.isDryRun });
    if (failed.length === 0) return ExitCode.ok;
    return failed.length === results.length ? ExitCode.failed : ExitCode.partial;
  } finally {
    instanceLock?.release();
  }
}

/** Returns what the record adds to a run's result: since when a failing repository fails, or since when a recovered one had failed. */
function failureHistory(
  previous: MaintainHostState,
  result: RepositoryMaintenanceResult,
): Pick<RepositoryMaintenanceResult, "failingSince" | "recoveredFrom"> {
  if (previous.failing_since === undefined) return {};
  return result.run.status === "failed"
    ? { failingSince: previous.failing_since }
    : { recoveredFrom: previous.failing_since };
}

/** Returns the result of a repository the run did not reach because it was interrupted. */
function notStarted(host: string, repository: string): RepositoryMaintenanceResult {
  const now = new Date().toISOString();
  return {
    host,
    run: {
      status: "failed",
      started_at: now,
      finished_at: now,
      duration_ms: 0,
      repository,
      forget: "not-run",
      pruned: false,
      checked: false,
      failed_step: "start",
      error: "not started: the run was interrupted",
      warnings: [],
    },
  };
}
