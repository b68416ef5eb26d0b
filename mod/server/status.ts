// `backupctl server status`: one row per configured host from its state file (last attempt, last
// ingest, failing since) and its repository (newest snapshot, count; read with --no-lock --no-cache),
// with a health verdict against max_age. Changes nothing; exit 1 when any host is not healthy (not ok,
// or its repository cannot be read).

import { dirname } from "node:path";
import type { ServerConfig, ServerHostConfig } from "../config/server.ts";
import { writeFileAtomic } from "../lib/atomic.ts";
import { BackupError, ExitCode, errorMessage } from "../lib/errors.ts";
import { isDirectory } from "../lib/fs.ts";
import { type Logger, log, setLogLevel } from "../lib/log.ts";
import { parseArchiveTimestamp } from "../lib/time.ts";
import { readMaintainState } from "../maintain/state.ts";
import { resticSnapshotsArgs } from "../restic/args.ts";
import { parseSnapshots, ResticError, runRestic, type Snapshot } from "../restic/runner.ts";
import { loadServerSettings, mapWithConcurrency, selectHosts } from "./pull.ts";
import { newestTimestampTag } from "./select.ts";
import { type HostState, readHostState } from "./state.ts";
import { hostHealth } from "./status-health.ts";
import {
  type HostStatus,
  isHealthy,
  type StatusReport,
  statusTable,
  statusTextfile,
} from "./status-output.ts";

/** Options of `server status`. */
export interface ServerStatusOptions {
  configDir: string;
  /** Only these hosts. */
  hosts?: string[];
  /** Print JSON instead of the table. */
  json?: boolean;
  /** Also write a node_exporter textfile here (atomically, mode 0644). */
  prometheusFile?: string;
  signal?: AbortSignal;
  hasExplicitLogLevel?: boolean;
  now?: () => Date;
}

// a monitoring check must come back: a repository that does not answer in time is reported as such
const repositoryReadTimeoutMs = 120_000;

/** Runs `server status`, prints the report and returns 0 when every host is healthy, else 1. Throws BackupError when the config is invalid or the textfile cannot be written. */
export async function runServerStatus(
  options: ServerStatusOptions,
  output: { stdout(text: string): void },
): Promise<number> {
  const logger = log.child("status");
  const config = loadServerSettings(options.configDir, logger);
  if (!options.hasExplicitLogLevel) setLogLevel(config.global.log_level);
  const hosts = selectHosts(config, options.hosts);
  if (options.prometheusFile && !isDirectory(dirname(options.prometheusFile))) {
    throw new BackupError(
      `Cannot write the Prometheus textfile "${options.prometheusFile}": its directory does not exist`,
      { code: "usage", hint: "point --prometheus into node_exporter's --collector.textfile.directory" },
    );
  }
  const report = await collectStatus(config, hosts, {
    logger,
    signal: options.signal,
    now: (options.now ?? (() => new Date()))(),
  });
  output.stdout(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${statusTable(report)}\n`);
  if (options.prometheusFile) {
    // node_exporter runs as its own user and must read it; it holds no secrets
    await writeFileAtomic(options.prometheusFile, statusTextfile(report), { mode: 0o644 });
    logger.debug(`wrote "${options.prometheusFile}"`);
  }
  return report.healthy ? ExitCode.ok : ExitCode.failed;
}

/** Reads the state and the repository of each host and returns the report. */
export async function collectStatus(
  config: ServerConfig,
  hosts: readonly ServerHostConfig[],
  options: { logger: Logger; signal?: AbortSignal; now: Date },
): Promise<StatusReport> {
  const rows = await mapWithConcurrency(hosts, config.global.concurrency, (host) =>
    hostStatus(config, host, { ...options, logger: options.logger.child(host.hostname) }),
  );
  return {
    generated_at: options.now.toISOString(),
    healthy: rows.every(isHealthy),
    hosts: rows,
  };
}

/** Returns one host's row; a state or repository that cannot be read is reported in the row. */
async function hostStatus(
  config: ServerConfig,
  host: ServerHostConfig,
  options: { logger: Logger; signal?: AbortSignal; now: Date },
): Promise<HostStatus> {
  const { logger, now } = options;
  const row: Partial<HostStatus> = {};
  let state: HostState = { host: host.hostname };
  try {
    state = await readHostState(config.global.state_dir, host.hostname);
  } catch (error) {
    row.state_error = `Cannot read the state of "${host.hostname}": ${errorMessage(error)}`;
    logger.warn(row.state_error);
  }
  let snapshots: Snapshot[] | undefined;
  try {
    snapshots = await readSnapshots(config, host, options);
  } catch (error) {
    row.repository_error =
      error instanceof ResticError && error.kind === "missing"
        ? `there is no restic repository at "${host.repository}"`
        : errorMessage(error);
    logger.warn(`Cannot read the repository of "${host.hostname}": ${row.repository_error}`);
  }

  const newest = snapshots?.at(-1);
  const lastSuccess = state.last_success;
  const archiveTimestamp =
    (newest ? newestTimestampTag([newest]) : undefined) ?? lastSuccess?.archive_timestamp;
  const newestBackup =
    newest?.time ?? (archiveTimestamp ? parseArchiveTimestamp(archiveTimestamp) : undefined);
  const health = hostHealth({
    newestBackup,
    failingSince: state.failing_since,
    failedAttempts: state.failed_attempts,
    maxAgeMs: host.max_age,
    now,
  });
  const attempt = state.last_attempt;
  const maintainState = await readMaintainState(config.global.state_dir, host.hostname).catch(
    () => undefined,
  );
  const maintainRun = maintainState?.last_run;
  return {
    host: host.hostname,
    repository: host.repository,
    health: health.verdict,
    health_text: health.text,
    max_age_seconds: host.max_age / 1000,
    ...(archiveTimestamp ? { last_archive_timestamp: archiveTimestamp } : {}),
    ...(newest
      ? {
          last_snapshot: {
            id: newest.id,
            short_id: newest.shortId,
            time: newest.time.toISOString(),
            age_seconds: Math.round((now.getTime() - newest.time.getTime()) / 1000),
          },
        }
      : {}),
    ...(snapshots ? { snapshot_count: snapshots.length } : {}),
    ...(lastSuccess
      ? {
          last_ingest: {
            finished_at: lastSuccess.finished_at,
            ...(lastSuccess.archive ? { archive: lastSuccess.archive } : {}),
            ...(lastSuccess.archive_bytes !== undefined ? { archive_bytes: lastSuccess.archive_bytes } : {}),
            ...(lastSuccess.files_new !== undefined ? { files_new: lastSuccess.files_new } : {}),
            ...(lastSuccess.files_changed !== undefined ? { files_changed: lastSuccess.files_changed } : {}),
            ...(lastSuccess.bytes_added !== undefined ? { bytes_added: lastSuccess.bytes_added } : {}),
            duration_ms: lastSuccess.duration_ms,
          },
        }
      : {}),
    ...(attempt
      ? {
          last_attempt: {
            status: attempt.status,
            finished_at: attempt.finished_at,
            duration_ms: attempt.duration_ms,
            ...(attempt.error ? { error: attempt.error } : {}),
          },
        }
      : {}),
    ...(state.failing_since ? { failing_since: state.failing_since } : {}),
    ...(state.failing_since && state.failed_attempts ? { failed_attempts: state.failed_attempts } : {}),
    ...(maintainRun
      ? {
          last_maintain: {
            status: maintainRun.status,
            finished_at: maintainRun.finished_at,
            checked: maintainRun.checked,
            ...(maintainRun.error ? { error: maintainRun.error } : {}),
          },
        }
      : {}),
    ...row,
  };
}

/** Returns the host's snapshots, oldest first, read without a lock and without writing a cache. Throws ResticError when the repository cannot be read. */
async function readSnapshots(
  config: ServerConfig,
  host: ServerHostConfig,
  options: { logger: Logger; signal?: AbortSignal },
): Promise<Snapshot[]> {
  // --no-cache: status changes nothing, not even restic's cache; listing snapshots needs no index
  const args = ["--no-cache", ...resticSnapshotsArgs({ host: host.hostname, isLockFree: true })];
  const result = await runRestic(args, {
    repository: host.repository,
    passwordFile: host.password_file,
    resticCommand: config.restic.restic_cmd,
    logger: options.logger,
    ...(options.signal ? { signal: options.signal } : {}),
    timeoutMs: repositoryReadTimeoutMs,
    stdout: "capture",
    stderrLevel: "debug",
    description: "list snapshots",
  });
  return parseSnapshots(result.stdout ?? "");
}
