// `backupctl client run` (Stage 1, DESIGN §6): under the instance lock, run every service's
// lifecycle into a private staging dir, write manifest.json, publish one verified archive under the
// shared archive lock, prune, and mail the admin when anything failed. Exit 0 / 3 / 1 (DESIGN §5).

import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { removeStaleSecretDirectories } from "../../plugins/secrets.ts";
import type { ClientConfig } from "../config/client.ts";
import { loadClientConfig } from "../config/load.ts";
import { requireValidConfig } from "../config/require.ts";
import { resolveAccountId } from "../lib/accounts.ts";
import { removeAbandonedTemporaryFiles, writeJsonAtomic } from "../lib/atomic.ts";
import { BackupError, ExitCode, errorMessage } from "../lib/errors.ts";
import { ensureFreeSpace } from "../lib/free-space.ts";
import { InstanceLock } from "../lib/lock.ts";
import { type Logger, log, setLogLevel } from "../lib/log.ts";
import { formatArchiveTimestamp } from "../lib/time.ts";
import { sendPing } from "../notify/ping.ts";
import { version } from "../version.ts";
import { type ArchiveResult, writeArchive } from "./archive.ts";
import { acquireArchiveLock } from "./archive-lock.ts";
import { type DiscoveredService, discoverServices } from "./discover.ts";
import { buildManifest, type Manifest } from "./manifest.ts";
import { pruneArchives, removeLeftovers, stagingPrefix } from "./prune.ts";
import { quiesceRecordDir } from "./quiesce-records.ts";
import { resumeLeftoverQuiesce } from "./recover.ts";
import { mailClientReport } from "./report.ts";
import { runService, type ServiceOutcome } from "./service-run.ts";
import {
  dumpSizeAlerts,
  measureDumps,
  type ServiceSize,
  serviceSizeAlerts,
  serviceSizes,
} from "./size-alerts.ts";

const freeSpaceHint = "free space there, lower min_free_space_mb, or move base_backup_dir";

/** Options of `client run`. */
export interface ClientRunOptions {
  configDir: string;
  isDryRun: boolean;
  /** Only these services (`name` or `type/name`). */
  services?: string[];
  signal: AbortSignal;
  /** Whether --log-level/-v/-q was given (then the config's log_level does not apply). */
  hasExplicitLogLevel: boolean;
  output: { stdout(text: string): void };
}

/** What the previous run left in the state dir, for the free-space estimate and `client services`. */
interface LastClientRun {
  finished_at: string;
  status: "ok" | "partial" | "failed";
  archive?: string;
  archive_bytes?: number;
  staged_bytes?: number;
  /** Bytes of each database dump, keyed `type/name/path`, for the size-drop alert. */
  dump_bytes?: Record<string, number>;
  /** Files and bytes each service that succeeded staged, keyed `type/name`, for the size-drop alert. */
  service_sizes?: Record<string, ServiceSize>;
  error?: string;
}

/** Loads client_config.yml (with common defaults). Throws a usage error listing every problem. */
export function loadClientSettings(configDir: string, logger: Logger): ClientConfig {
  return requireValidConfig(loadClientConfig(configDir), { kind: "client", configDir, logger });
}

/** Reads the last run's record, if any. */
async function readLastRun(stateDir: string): Promise<LastClientRun | undefined> {
  try {
    return JSON.parse(await readFile(join(stateDir, "client", "last-run.json"), "utf8")) as LastClientRun;
  } catch {
    return undefined;
  }
}

/** Writes manifest.json, checks the space, and publishes the verified archive under the shared archive lock. */
async function publishArchive(
  stagingRoot: string,
  manifest: Manifest,
  options: {
    config: ClientConfig;
    time: Date;
    owner: { uid: number; gid: number };
    logger: Logger;
    signal: AbortSignal;
  },
): Promise<ArchiveResult> {
  const { config, logger } = options;
  const baseDir = config.base_backup_dir;
  await writeFile(join(stagingRoot, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`, {
    mode: 0o600,
  });
  const stagedBytes = manifest.services.reduce((sum, service) => sum + service.bytes, 0);
  await ensureFreeSpace(baseDir, {
    minFreeMb: config.min_free_space_mb,
    neededBytes: stagedBytes,
    purpose: "the archive",
    hint: freeSpaceHint,
  });
  const lock = await acquireArchiveLock(baseDir, {
    logger,
    retries: config.lock_retries,
    retryDelayMs: config.lock_retry_delay,
    staleAfterMs: config.stale_lock_after,
    hostname: config.hostname,
    signal: options.signal,
  });
  try {
    return await writeArchive(stagingRoot, baseDir, {
      hostname: config.hostname,
      time: options.time,
      compression: config.compression,
      tools: config.tools,
      owner: options.owner,
      logger,
      signal: options.signal,
    });
  } finally {
    await lock.release();
  }
}

/** Runs `client run` and returns its exit status. Throws BackupError when the config is invalid or another run holds the lock. */
export async function runClient(options: ClientRunOptions): Promise<number> {
  const logger = log.child("client");
  const config = loadClientSettings(options.configDir, logger);
  if (!options.hasExplicitLogLevel) setLogLevel(config.log_level);
  const isDryRun = options.isDryRun;
  const baseDir = config.base_backup_dir;

  // dry-run changes nothing, not even a lock file: it cannot disturb a real run
  let instanceLock: InstanceLock | undefined;
  if (!isDryRun) {
    await mkdir(join(config.state_dir, "client"), { recursive: true, mode: 0o700 });
    instanceLock = InstanceLock.tryAcquire(join(config.state_dir, "client", "run.lock"));
    if (!instanceLock) {
      const holder = InstanceLock.readHolder(join(config.state_dir, "client", "run.lock"));
      throw new BackupError(`Another "backupctl client run" is running${holder ? ` (pid ${holder})` : ""}`, {
        code: "locked",
        hint: "this run was skipped; nothing was changed",
      });
    }
  }
  await sendPing(config.ping, "start", { logger, isDryRun });
  const startedAt = new Date();
  let stagingRoot: string | undefined;
  const outcomes: ServiceOutcome[] = [];
  let archive: ArchiveResult | undefined;
  let runError: unknown;
  let manifest: Manifest | undefined;
  let discovered: DiscoveredService[] = [];
  let lastRun: LastClientRun | undefined;
  let dumpBytes: Record<string, number> | undefined;
  const alerts: string[] = [];
  try {
    logger.info(
      `Starting client run for host "${config.hostname}"${isDryRun ? " (dry run: nothing is changed)" : ""}`,
    );
    discovered = discoverServices(options.configDir, {
      pluginDir: config.plugin_dir,
      tools: config.tools,
      only: options.services,
    });
    if (options.services?.length && discovered.length === 0) {
      throw new BackupError(
        `No service named ${options.services.map((name) => `"${name}"`).join(", ")} in "${options.configDir}"`,
        {
          code: "usage",
          hint: "list them with: backupctl client services",
        },
      );
    }
    for (const service of discovered) {
      for (const warning of service.warnings) logger.warn(warning);
      for (const problem of service.problems) logger.error(problem);
    }
    const owner = {
      uid: await resolveAccountId("passwd", config.backup_user, { logger }),
      gid: await resolveAccountId("group", config.backup_group, { logger }),
    };
    if (!isDryRun) await removeStaleSecretDirectories(logger);
    await resumeLeftoverQuiesce({
      stateDir: config.state_dir,
      tools: config.tools,
      pluginDir: config.plugin_dir,
      logger,
      isDryRun,
    });
    lastRun = await readLastRun(config.state_dir);
    if (!isDryRun) {
      await mkdir(baseDir, { recursive: true, mode: 0o750 });
      await removeLeftovers(baseDir, { logger, isDryRun });
      // a run killed in the middle of an atomic write leaves its temporary file, which nothing else removes
      for (const directory of [
        baseDir,
        join(config.state_dir, "client"),
        quiesceRecordDir(config.state_dir),
      ]) {
        for (const name of await removeAbandonedTemporaryFiles(directory)) {
          logger.warn(`Removed "${join(directory, name)}", a temporary file left by an interrupted run`);
        }
      }
      await ensureFreeSpace(baseDir, {
        minFreeMb: config.min_free_space_mb,
        neededBytes: (lastRun?.staged_bytes ?? 0) + (lastRun?.archive_bytes ?? 0),
        purpose: "staging",
        hint: freeSpaceHint,
      });
    }

    stagingRoot = join(baseDir, `${stagingPrefix}${formatArchiveTimestamp(startedAt)}-${process.pid}`);
    if (!isDryRun) await mkdir(stagingRoot, { mode: 0o700 });
    for (const service of discovered) {
      if (options.signal.aborted) break;
      if (!service.plan) {
        outcomes.push({
          type: service.type,
          name: service.name,
          status: "failed",
          error: `not run: ${service.problems.join("; ")}`,
          tasks: [],
          durationMs: 0,
        });
        continue;
      }
      outcomes.push(
        await runService(service.plan, {
          stagingRoot,
          stateDir: config.state_dir,
          tools: config.tools,
          logger: logger.child(`${service.type}/${service.name}`),
          isDryRun,
          signal: options.signal,
        }),
      );
    }
    if (options.signal.aborted) throw options.signal.reason ?? new Error("interrupted");
    if (!isDryRun) {
      dumpBytes = await measureDumps(stagingRoot, outcomes);
      for (const alert of dumpSizeAlerts(lastRun?.dump_bytes, dumpBytes)) {
        logger.warn(`Alert: ${alert}`);
        alerts.push(alert);
      }
    }

    const archiveTime = new Date();
    manifest = await buildManifest({
      host: config.hostname,
      archiveTimestamp: formatArchiveTimestamp(archiveTime),
      version,
      stagingRoot,
      outcomes,
    });
    if (!isDryRun) {
      for (const alert of serviceSizeAlerts(lastRun?.service_sizes, serviceSizes(manifest.services))) {
        logger.warn(`Alert: ${alert}`);
        alerts.push(alert);
      }
    }
    if (outcomes.length > 0 && outcomes.every((outcome) => outcome.status === "failed")) {
      throw new BackupError("Every service failed: no archive was written", {
        hint: "see the errors above for each service",
      });
    }
    if (isDryRun) {
      logger.info(`Would write the archive of ${outcomes.length} service(s) into "${baseDir}"`);
    } else {
      archive = await publishArchive(stagingRoot, manifest, {
        config,
        time: archiveTime,
        owner,
        logger,
        signal: options.signal,
      });
    }
    // an older archive may hold the only copy of a service that failed tonight: prune only after full success
    if (manifest.status === "ok") {
      await pruneArchives(baseDir, {
        hostname: config.hostname,
        keepDays: config.keep_days,
        now: startedAt,
        logger,
        isDryRun,
      });
    } else {
      logger.warn(
        "Not pruning old archives: some services failed, and older archives may hold their only copy",
      );
    }
  } catch (error) {
    runError = error;
  } finally {
    if (stagingRoot && !isDryRun) {
      await rm(stagingRoot, { recursive: true, force: true }).catch((error) =>
        logger.error(`Cannot remove the staging dir "${stagingRoot}": ${errorMessage(error)}`),
      );
    }
  }

  const failedServices = outcomes.filter((outcome) => outcome.status === "failed");
  const status = runError ? "failed" : failedServices.length > 0 ? "partial" : "ok";
  if (!isDryRun) {
    const record: LastClientRun = {
      finished_at: new Date().toISOString(),
      status,
      ...(archive ? { archive: archive.name, archive_bytes: archive.bytes } : {}),
      ...(manifest
        ? { staged_bytes: manifest.services.reduce((sum, service) => sum + service.bytes, 0) }
        : {}),
      ...(dumpBytes ? { dump_bytes: dumpBytes } : {}),
      // a run of some services (--service) keeps what the others staged last time
      ...(manifest
        ? { service_sizes: { ...lastRun?.service_sizes, ...serviceSizes(manifest.services) } }
        : {}),
      ...(runError ? { error: errorMessage(runError) } : {}),
    };
    await writeJsonAtomic(join(config.state_dir, "client", "last-run.json"), record).catch((error) =>
      logger.warn(`Cannot record the run in "${config.state_dir}": ${errorMessage(error)}`),
    );
  }
  if (runError) logger.error(`Client run failed: ${errorMessage(runError)}`);
  else if (status === "partial")
    logger.warn(
      `Client run finished with ${failedServices.length} failed service(s): archive "${archive?.name}"`,
    );
  else
    logger.info(
      isDryRun ? "Dry run finished: nothing was changed" : `Client run finished: archive "${archive?.name}"`,
    );

  if (status !== "ok" || alerts.length > 0) {
    await mailClientReport({
      config,
      status: status === "ok" ? "warning" : status,
      outcomes,
      alerts,
      error: runError,
      archive,
      isDryRun,
      logger,
    });
  }
  await sendPing(config.ping, status === "ok" ? "success" : "failure", { logger, isDryRun });
  instanceLock?.release();
  if (runError) return runError instanceof BackupError ? runError.exitCode : ExitCode.failed;
  return status === "partial" ? ExitCode.partial : ExitCode.ok;
}
