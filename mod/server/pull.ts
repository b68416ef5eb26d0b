// `backupctl server pull` (Stage 2, DESIGN §7): under the instance lock, pull every configured host
// (or --host) with up to global.concurrency at once — one host's failure never stops another —
// record each result, mail failures and a summary. Exit 0 all ok, 3 some failed, 1 all failed.

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { loadServerConfig } from "../config/load.ts";
import { requireValidConfig } from "../config/require.ts";
import type { ServerConfig } from "../config/server.ts";
import { removeAbandonedTemporaryFiles } from "../lib/atomic.ts";
import { BackupError, ExitCode, errorMessage } from "../lib/errors.ts";
import { InstanceLock } from "../lib/lock.ts";
import { type Logger, log, setLogLevel } from "../lib/log.ts";
import { sendPing } from "../notify/ping.ts";
import { appendPullHistory } from "./history.ts";
import { type HostPullResult, pullHost } from "./host-pull.ts";
import { mailPullReport, summaryTable } from "./report.ts";
import { recordPullAttempt } from "./state.ts";
import { UnpackSpace } from "./unpack/space.ts";

/** Options of `server pull`. */
export interface ServerPullOptions {
  configDir: string;
  isDryRun: boolean;
  /** Only these hosts. */
  hosts?: string[];
  signal: AbortSignal;
  hasExplicitLogLevel: boolean;
  output: { stdout(text: string): void };
}

/** Loads server_config.yml (with common defaults). Throws a usage error listing every problem. */
export function loadServerSettings(configDir: string, logger: Logger): ServerConfig {
  return requireValidConfig(loadServerConfig(configDir), { kind: "server", configDir, logger });
}

/** Returns the configured hosts, limited to the names asked for. Throws a usage error for an unknown name. */
export function selectHosts(
  config: ServerConfig,
  names: readonly string[] | undefined,
): ServerConfig["hosts"] {
  if (!names || names.length === 0) return config.hosts;
  const known = new Set(config.hosts.map((host) => host.hostname));
  const unknown = names.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new BackupError(`Unknown host ${unknown.map((name) => `"${name}"`).join(", ")}`, {
      code: "usage",
      hint: `configured hosts: ${[...known].join(", ")}`,
    });
  }
  return config.hosts.filter((host) => names.includes(host.hostname));
}

/** Runs tasks with at most `limit` at once, keeping the order of results. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Runs `server pull` and returns its exit status. Throws BackupError when the config is invalid or another pull runs. */
export async function runServerPull(options: ServerPullOptions): Promise<number> {
  const logger = log.child("server");
  const config = loadServerSettings(options.configDir, logger);
  if (!options.hasExplicitLogLevel) setLogLevel(config.global.log_level);
  const hosts = selectHosts(config, options.hosts);

  let instanceLock: InstanceLock | undefined;
  if (!options.isDryRun) {
    await mkdir(join(config.global.state_dir, "server"), { recursive: true, mode: 0o700 });
    await mkdir(config.global.local_temp_base_dir, { recursive: true, mode: 0o700 });
    const lockPath = join(config.global.state_dir, "server", "pull.lock");
    instanceLock = InstanceLock.tryAcquire(lockPath);
    if (!instanceLock) {
      const holder = InstanceLock.readHolder(lockPath);
      throw new BackupError(`Another "backupctl server pull" is running${holder ? ` (pid ${holder})` : ""}`, {
        code: "locked",
        hint: "this run was skipped; nothing was changed",
      });
    }
    // a pull killed in the middle of an atomic write leaves its temporary file, which nothing else removes
    for (const directory of ["hosts", "history"].map((name) =>
      join(config.global.state_dir, "server", name),
    )) {
      for (const name of await removeAbandonedTemporaryFiles(directory)) {
        logger.warn(`Removed "${join(directory, name)}", a temporary file left by an interrupted pull`);
      }
    }
  }
  try {
    await sendPing(config.global.ping, "start", { logger, isDryRun: options.isDryRun });
    logger.info(
      `Pulling ${hosts.length} host(s), ${config.global.concurrency} at a time${options.isDryRun ? " (dry run: nothing is fetched or stored)" : ""}`,
    );
    // one set of reservations for the unpack directory, shared by the hosts pulled at once
    const unpackSpace = new UnpackSpace(config.global.local_temp_base_dir, config.global.min_free_space_mb);
    const results: HostPullResult[] = await mapWithConcurrency(
      hosts,
      config.global.concurrency,
      async (host) => {
        const hostLogger = logger.child(host.hostname);
        if (options.signal.aborted) {
          return {
            host: host.hostname,
            alerts: [],
            attempt: {
              status: "failed",
              started_at: new Date().toISOString(),
              finished_at: new Date().toISOString(),
              duration_ms: 0,
              error: "not started: the run was interrupted",
              warnings: [],
            },
          } satisfies HostPullResult;
        }
        const result = await pullHost({
          config,
          host,
          logger: hostLogger,
          isDryRun: options.isDryRun,
          signal: options.signal,
          unpackSpace,
        });
        if (options.isDryRun) return result;
        await appendPullHistory(config.global.state_dir, host.hostname, result.attempt).catch((error) =>
          hostLogger.warn(
            `Cannot add the result to the history in "${config.global.state_dir}": ${errorMessage(error)}`,
          ),
        );
        try {
          const record = await recordPullAttempt(config.global.state_dir, host.hostname, result.attempt);
          return { ...result, record };
        } catch (error) {
          hostLogger.warn(`Cannot record the result in "${config.global.state_dir}": ${errorMessage(error)}`);
          return result;
        }
      },
    );

    options.output.stdout(`${summaryTable(results, new Date())}\n`);
    await mailPullReport({ config, results, isDryRun: options.isDryRun, logger });
    const failed = results.filter(
      (result) => result.attempt.status === "failed" || result.attempt.status === "locked",
    );
    await sendPing(config.global.ping, failed.length === 0 ? "success" : "failure", {
      logger,
      isDryRun: options.isDryRun,
    });
    if (failed.length === 0) return ExitCode.ok;
    return failed.length === results.length ? ExitCode.failed : ExitCode.partial;
  } finally {
    instanceLock?.release();
  }
}
