// One host's pull (DESIGN §7): connect over SFTP with a verified host key → wait for the client's
// lock → pick the newest complete archive → skip it when a snapshot already has it → stream it
// through sha256, decompression and a strict extractor into `<temp>/<host>/data` → restic backup →
// after_ingest on the client. The snapshot list that decides "already stored" runs while the
// download starts (which it stops when the archive is stored). The unpacked data is always removed;
// the result is recorded, never thrown.

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { ServerConfig, ServerHostConfig } from "../config/server.ts";
import { BackupError, errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { formatAge, parseArchiveTimestamp } from "../lib/time.ts";
import { partialTag } from "../restic/args.ts";
import { acquireRepositoryLock } from "../restic/repository-lock.ts";
import {
  initRepository,
  listSnapshotsIfRepository,
  type ResticRunOptions,
  runBackup,
} from "../restic/runner.ts";
import { isNoSuchFile, SftpSession } from "../ssh/session.ts";
import { cleanUpClient } from "./after-ingest.ts";
import { waitForClientUnlock } from "./lock-check.ts";
import { newestTimestampTag, parseSidecar, type RemoteArchive, selectNewestArchive } from "./select.ts";
import { type PullAttempt, type RecordedAttempt, readHostState } from "./state.ts";
import { UnpackSpace } from "./unpack/space.ts";
import { removeTree } from "./unpack/target-directory.ts";
import { unpackArchive } from "./unpack/unpack-archive.ts";

/** What pullHost needs. */
export interface HostPullOptions {
  config: ServerConfig;
  host: ServerHostConfig;
  logger: Logger;
  isDryRun: boolean;
  signal: AbortSignal;
  now?: () => Date;
  /** The room reservations shared by the hosts of one pull (default: this host's alone). */
  unpackSpace?: UnpackSpace;
}

/** How the pull went, with alerts that deserve a mail even when the host did not fail. */
export interface HostPullResult {
  host: string;
  attempt: PullAttempt;
  alerts: string[];
  /** What the host's record adds once the attempt is recorded (not in a dry run). */
  record?: RecordedAttempt;
}

const sidecarMaxBytes = 4096;

/** Reads a small remote file (the sidecar) completely. */
async function readSmallFile(session: SftpSession, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of session.createReadStream(path)) {
    size += (chunk as Buffer).length;
    if (size > sidecarMaxBytes)
      throw new BackupError(`The sidecar "${path}" is larger than ${sidecarMaxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Returns the newest archive in the client's done/ directory, or undefined when there is none. */
async function newestInDone(
  session: SftpSession,
  remoteDir: string,
  hostname: string,
  now: Date,
  maxClockSkewMs: number,
): Promise<RemoteArchive | undefined> {
  try {
    const entries = await session.list(`${remoteDir.replace(/\/$/, "")}/done`);
    return selectNewestArchive(entries, hostname, { now, maxClockSkewMs }).newest;
  } catch (error) {
    if (isNoSuchFile(error)) return undefined;
    throw error;
  }
}

/** Returns the archive the last successful pull of host stored, from the server's state; undefined when none is recorded or the state cannot be read. */
async function lastStoredArchive(
  stateDir: string,
  hostname: string,
): Promise<Pick<RemoteArchive, "name" | "timestamp" | "time"> | undefined> {
  const stored = (await readHostState(stateDir, hostname).catch(() => undefined))?.last_success;
  const time = stored?.archive_timestamp ? parseArchiveTimestamp(stored.archive_timestamp) : undefined;
  if (!stored?.archive || !stored.archive_timestamp || !time) return undefined;
  return { name: stored.archive, timestamp: stored.archive_timestamp, time };
}

/** Returns the bytes the unpack of archive will likely take: what the host's last unpack took, or the archive's size when that is more. */
async function unpackEstimate(stateDir: string, hostname: string, archive: RemoteArchive): Promise<number> {
  const state = await readHostState(stateDir, hostname).catch(() => undefined);
  return Math.max(archive.size ?? 0, state?.last_success?.unpacked_bytes ?? 0);
}

/** Reads and checks the archive's sidecar; returns the sha256 it names. Throws BackupError when it is missing, too large or malformed. */
async function readSidecar(session: SftpSession, remoteDir: string, archive: RemoteArchive): Promise<string> {
  const sidecarPath = `${remoteDir}/${archive.sidecarName}`;
  const expectedSha256 = parseSidecar(await readSmallFile(session, sidecarPath), archive.name);
  if (!expectedSha256) {
    throw new BackupError(`The sidecar "${sidecarPath}" is malformed or names another file`, {
      hint: "it must hold `<sha256>  <archive name>` as written by backupctl client run",
    });
  }
  return expectedSha256;
}

/** What the repository says about an archive: missing, holding it already (by the newest timestamp tag), or not yet. */
type StoredVerdict = { kind: "missing" } | { kind: "stored"; newestTag: string } | { kind: "new" };

/** Lists the host's backupctl snapshots and judges whether archive is stored. Throws ResticError for any failure but a missing repository. */
async function storedVerdict(
  restic: ResticRunOptions,
  hostname: string,
  archive: RemoteArchive,
): Promise<StoredVerdict> {
  const snapshots = await listSnapshotsIfRepository(restic, { host: hostname, tags: ["backupctl"] });
  if (snapshots === undefined) return { kind: "missing" };
  const newestTag = newestTimestampTag(snapshots);
  if (newestTag !== undefined && newestTag >= archive.timestamp) return { kind: "stored", newestTag };
  return { kind: "new" };
}

/** Returns the options every restic call of this host shares. */
function resticOptions(options: HostPullOptions, logger: Logger): ResticRunOptions {
  const { config, host } = options;
  return {
    repository: host.repository,
    passwordFile: host.password_file,
    resticCommand: config.restic.restic_cmd,
    cacheDir: join(config.global.state_dir, "restic-cache"),
    logger,
    signal: options.signal,
    isDryRun: options.isDryRun,
  };
}

/** Pulls one host and returns the outcome; never throws. */
export async function pullHost(options: HostPullOptions): Promise<HostPullResult> {
  const { config, host, logger } = options;
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const started = performance.now();
  const alerts: string[] = [];
  const warnings: string[] = [];
  const attempt: Partial<PullAttempt> = {};
  let status: PullAttempt["status"] = "failed";
  let error: string | undefined;
  let session: SftpSession | undefined;
  const workDir = join(config.global.local_temp_base_dir, host.hostname);
  const dataDir = join(workDir, "data");
  let hasUnpacked = false;
  let isDataRemoved = false;
  const unpackSpace =
    options.unpackSpace ??
    new UnpackSpace(config.global.local_temp_base_dir, config.global.min_free_space_mb);
  let releaseSpace: (() => void) | undefined;

  try {
    session = await SftpSession.connect({
      host: host.hostname,
      port: host.port,
      address: host.address,
      username: host.ssh_user,
      privateKeyPath: host.ssh_key_file,
      knownHostsFile: host.known_hosts_file,
      readyTimeoutMs: config.global.connect_timeout,
      keepaliveIntervalMs: config.global.keepalive_interval,
      idleTimeoutMs: config.global.idle_timeout,
      logger,
      signal: options.signal,
    });

    const lock = await waitForClientUnlock(session, host.remote_tar_dir, {
      retries: options.isDryRun ? 0 : config.global.lock_check_retries,
      delayMs: config.global.lock_check_delay,
      staleAfterMs: config.global.stale_lock_after,
      logger,
      signal: options.signal,
      now,
    });
    if (lock.isLocked) {
      status = "locked";
      if (lock.isStale && lock.since) {
        alerts.push(
          `stale lock on ${host.hostname} since ${lock.since.toISOString()}: a client run died while writing its archive, or still hangs`,
        );
      }
      throw new BackupError(`Skipped: ${lock.reason}`, {
        hint: "the next run tries again; if this repeats, look at the client's backupctl client run",
      });
    }

    const entries = await session.list(host.remote_tar_dir);
    const selection = selectNewestArchive(entries, host.hostname, {
      now: now(),
      maxClockSkewMs: config.global.max_clock_skew,
    });
    for (const refused of selection.refused) {
      const warning = `Ignoring "${refused.name}": ${refused.reason}`;
      warnings.push(warning);
      logger.warn(warning);
    }
    const archive: RemoteArchive | undefined = selection.newest;
    if (!archive) {
      // after_ingest "move" puts stored archives into done/; "delete" leaves only this server's record
      // of what it stored (consulted only when the listing held no refused archive: that deserves a failure)
      const inDone = await newestInDone(
        session,
        host.remote_tar_dir,
        host.hostname,
        now(),
        config.global.max_clock_skew,
      );
      const stored =
        inDone ??
        (selection.refused.length === 0
          ? await lastStoredArchive(config.global.state_dir, host.hostname)
          : undefined);
      if (stored) {
        attempt.archive = stored.name;
        attempt.archive_timestamp = stored.timestamp;
        const storedAge = now().getTime() - stored.time.getTime();
        if (storedAge > host.max_age) {
          alerts.push(
            `the newest archive of ${host.hostname} is ${formatAge(storedAge)} old (max_age ${formatAge(host.max_age)}): is the client's backup running?`,
          );
        }
        status = "up-to-date";
        const where = inDone ? "is in done/" : `is gone from the client (after_ingest: ${host.after_ingest})`;
        logger.info(`No new archive: the newest, "${stored.name}", was stored before and ${where}`);
        return finish();
      }
      throw new BackupError(`No complete archive of "${host.hostname}" in "${host.remote_tar_dir}"`, {
        hint: "check that backupctl client run works on the client and that its hostname and base_backup_dir match hostname and remote_tar_dir here",
      });
    }
    attempt.archive = archive.name;
    attempt.archive_timestamp = archive.timestamp;
    attempt.archive_bytes = archive.size;
    const age = now().getTime() - archive.time.getTime();
    if (age > host.max_age) {
      alerts.push(
        `the newest archive of ${host.hostname} is ${formatAge(age)} old (max_age ${formatAge(host.max_age)}): is the client's backup running?`,
      );
    }

    const restic = resticOptions(options, logger);
    const repositoryLock = options.isDryRun
      ? undefined
      : await acquireRepositoryLock(config.global.state_dir, host.hostname, {
          timeoutMs: config.global.repository_lock_wait,
          logger,
          signal: options.signal,
        });
    try {
      // one restic start-up (~0.5 s of key derivation) answers "does the repository exist, and does
      // it hold this archive already?"; it runs while the sidecar is read and the download starts
      const verdict = storedVerdict(restic, host.hostname, archive);
      verdict.catch(() => undefined);
      /** Records that the archive is stored already and returns the result. */
      const upToDate = (newestTag: string): HostPullResult => {
        status = "up-to-date";
        logger.info(`No new archive: "${archive.name}" is already stored (newest snapshot tag ${newestTag})`);
        return finish();
      };
      /** Creates the missing repository, or throws when that is not allowed. */
      const createRepository = async (): Promise<void> => {
        if (!config.restic.init_missing_repos) {
          throw new BackupError(
            `The restic repository "${host.repository}" of "${host.hostname}" does not exist`,
            {
              hint: `create it with: restic init --repo ${host.repository} --password-file ${host.password_file}, or set restic.init_missing_repos: true`,
            },
          );
        }
        await initRepository(restic);
      };

      let expectedSha256: string;
      try {
        expectedSha256 = await readSidecar(session, host.remote_tar_dir, archive);
      } catch (sidecarError) {
        // a stored archive needs no sidecar any more
        const known = await verdict.catch(() => undefined);
        if (known?.kind === "stored") return upToDate(known.newestTag);
        throw sidecarError;
      }
      // with after_ingest "keep" the newest archive is usually stored already: ask before downloading
      if (options.isDryRun || host.after_ingest === "keep") {
        const known = await verdict;
        if (known.kind === "stored") return upToDate(known.newestTag);
        if (options.isDryRun) {
          if (known.kind === "missing") await createRepository();
          logger.info(
            `Would fetch "${archive.name}" (${archive.size ?? "?"} bytes) into "${dataDir}" and store it in "${host.repository}"`,
          );
          status = "ok";
          return finish();
        }
      }

      await mkdir(workDir, { recursive: true, mode: 0o700 });
      // a run killed mid-way left its data: the extractor wants a fresh, empty directory
      await removeTree(dataDir);
      // refused before the download rather than when the disk fills half-way through the unpack; with
      // other hosts unpacking at the same time, it waits for their room when it fits only without them
      releaseSpace = await unpackSpace.reserve({
        bytes: await unpackEstimate(config.global.state_dir, host.hostname, archive),
        purpose: `unpacking "${archive.name}"`,
        hint: "free space there, lower global.min_free_space_mb, or move global.local_temp_base_dir",
        signal: options.signal,
        onWait: (message) => logger.info(message),
      });
      logger.info(`Fetching "${archive.name}" (${archive.size ?? "?"} bytes)`);
      const fetchStarted = performance.now();
      hasUnpacked = true;
      const fetchStop = new AbortController();
      const unpacking = unpackArchive(session.createReadStream(`${host.remote_tar_dir}/${archive.name}`), {
        targetDir: dataDir,
        compression: archive.compression,
        expectedSha256,
        ...(archive.size !== undefined ? { expectedSize: archive.size } : {}),
        maxBytes: config.global.max_archive_bytes,
        maxEntries: config.global.max_archive_entries,
        logger,
        signal: AbortSignal.any([options.signal, fetchStop.signal]),
      });
      unpacking.catch(() => undefined);
      /** Stops the download and waits until nothing writes into dataDir any more (the finally removes it). */
      const stopFetch = async (): Promise<void> => {
        fetchStop.abort(new Error("not needed"));
        await unpacking.catch(() => undefined);
      };
      try {
        const known = await verdict;
        if (known.kind === "stored") {
          await stopFetch();
          return upToDate(known.newestTag);
        }
        if (known.kind === "missing") await createRepository();
      } catch (verdictError) {
        await stopFetch();
        throw verdictError;
      }
      const unpacked = await unpacking;
      attempt.fetch_ms = Math.round(performance.now() - fetchStarted);
      attempt.unpacked_bytes = unpacked.fileBytes;
      attempt.entries = unpacked.entries;
      const manifestStatus = (unpacked.manifest as { status?: unknown } | undefined)?.status;
      const isPartialArchive = manifestStatus === "partial";
      if (isPartialArchive)
        warnings.push("the client marked this archive partial: some of its services failed");

      const ingestStarted = performance.now();
      const backup = await runBackup(dataDir, {
        ...restic,
        host: host.hostname,
        tags: [archive.timestamp, ...(isPartialArchive ? [partialTag] : [])],
        time: archive.time,
        extraOptions: config.restic.backup_options,
        description: `store the archive of ${host.hostname}`,
      });
      attempt.ingest_ms = Math.round(performance.now() - ingestStarted);
      if (backup.summary) {
        attempt.snapshot_id = backup.summary.snapshotId;
        attempt.files_new = backup.summary.filesNew;
        attempt.files_changed = backup.summary.filesChanged;
        attempt.files_unmodified = backup.summary.filesUnmodified;
        attempt.bytes_added = backup.summary.dataAdded;
      }
      status = isPartialArchive || backup.isPartial ? "partial" : "ok";
      if (backup.isPartial) warnings.push("restic could not read some unpacked files (exit 3)");
      logger.info(
        `Stored "${archive.name}" as snapshot ${attempt.snapshot_id ?? "?"}: ${attempt.files_new ?? 0} new, ${attempt.files_changed ?? 0} changed files, ${attempt.bytes_added ?? 0} bytes added`,
      );
    } finally {
      repositoryLock?.release();
    }

    // the client's after_ingest and the removal of the unpacked data overlap
    const clientCleanup = cleanUpClient(session, host, archive, logger).catch((cleanupError: unknown) => {
      const warning = `The archive was stored, but after_ingest "${host.after_ingest}" failed on the client: ${errorMessage(cleanupError)}`;
      warnings.push(warning);
      logger.warn(warning);
    });
    await removeUnpacked();
    await clientCleanup;
  } catch (caught) {
    if (status !== "locked") status = "failed";
    error = errorMessage(caught);
    logger.error(error);
  } finally {
    // also when nothing was unpacked: a run killed earlier may have left plaintext that no later run
    // would remove while the archive it came from stays the newest
    if (hasUnpacked || !options.isDryRun) await removeUnpacked();
    await session?.close().catch(() => undefined);
  }
  return finish();

  /** Removes the unpacked data once (after the ingest, or in the finally); a failure is logged, never thrown. */
  async function removeUnpacked(): Promise<void> {
    if (isDataRemoved) return;
    isDataRemoved = true;
    try {
      await removeTree(dataDir);
    } catch (cleanupError) {
      logger.error(
        `Cannot remove the unpacked data "${dataDir}": ${errorMessage(cleanupError)} (remove it by hand: it holds plaintext)`,
      );
    } finally {
      // what could not be removed still takes its room, but waiting hosts learn so only by measuring
      releaseSpace?.();
    }
  }

  /** Builds the result from what was recorded so far. */
  function finish(): HostPullResult {
    return {
      host: host.hostname,
      alerts,
      attempt: {
        ...attempt,
        status,
        started_at: startedAt.toISOString(),
        finished_at: now().toISOString(),
        duration_ms: Math.round(performance.now() - started),
        ...(error ? { error } : {}),
        warnings,
      },
    };
  }
}
