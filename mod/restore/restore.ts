// `backupctl restore HOST --target DIR`: restic restores the snapshot (or one service and the
// manifest) into a private staging directory inside DIR; its unpack-path prefix is then taken off by
// renames, so DIR holds `manifest.json` and `<type>/<name>/…` as the client archived them. Ends with
// where the database dumps are and the command that loads each.

import { randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, rename, rm, rmdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BackupError, ExitCode, errnoCode, errorMessage } from "../lib/errors.ts";
import { type Logger, log, setLogLevel } from "../lib/log.ts";
import { resticRestoreArgs } from "../restic/args.ts";
import { newestCompleteBehindPartials } from "../restic/output.ts";
import { listSnapshots, type ResticRunOptions, runRestic } from "../restic/runner.ts";
import { loadServerSettings, selectHosts } from "../server/pull.ts";
import { describeDumpKind, findDumps } from "./dumps.ts";
import {
  includePaths,
  type ManifestServiceEntry,
  resolveService,
  resticDumpArgs,
  selectSnapshot,
  snapshotRoot,
} from "./layout.ts";

/** Options of `restore`. */
export interface RestoreOptions {
  configDir: string;
  host: string;
  target: string;
  /** A snapshot ID (or prefix), or "latest" (default). */
  snapshot?: string;
  /** Only this service: "type/name" or its name. */
  service?: string;
  /** Restore into a non-empty target; restored files replace files of the same name. */
  force?: boolean;
  signal?: AbortSignal;
  hasExplicitLogLevel?: boolean;
}

/** Runs `restore` and returns 0. Throws BackupError on a usage error (2: unknown host, snapshot or service, non-empty target) or a failed restore (1). */
export async function runRestore(
  options: RestoreOptions,
  output: { stdout(text: string): void },
): Promise<number> {
  const logger = log.child(`restore:${options.host}`);
  const config = loadServerSettings(options.configDir, logger);
  if (!options.hasExplicitLogLevel) setLogLevel(config.global.log_level);
  const [host] = selectHosts(config, [options.host]);
  if (!host) throw new BackupError(`Unknown host "${options.host}"`, { code: "usage" });
  const target = resolve(options.target);
  // checked first, created only once the snapshot and service are known to exist
  const isTargetPresent = await checkTarget(target, Boolean(options.force));

  const restic: ResticRunOptions = {
    repository: host.repository,
    passwordFile: host.password_file,
    resticCommand: config.restic.restic_cmd,
    cacheDir: join(config.global.state_dir, "restic-cache"),
    logger,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const snapshots = await listSnapshots(restic, { host: host.hostname });
  const snapshot = selectSnapshot(snapshots, { wanted: options.snapshot ?? "latest", host: host.hostname });
  const root = snapshotRoot(snapshot);
  const manifest = await readManifest(restic, snapshot.id, root, logger);
  const service = options.service ? resolveWantedService(manifest, options.service) : undefined;
  if (service?.status === "failed") {
    // the newest snapshot up to this one in which every service succeeded holds the service's last data
    const complete = newestCompleteBehindPartials(
      snapshots.filter((candidate) => candidate.time.getTime() <= snapshot.time.getTime()),
    );
    const suggestion = complete
      ? `; the newest snapshot before it in which every service succeeded is ${complete.shortId} (${complete.time.toISOString()}): restore from it with --snapshot ${complete.shortId}`
      : "";
    logger.warn(
      `Service "${service.type}/${service.name}" failed in this backup${service.error ? ` (${service.error})` : ""}: the snapshot may hold nothing of it${suggestion}`,
    );
  }

  if (!isTargetPresent) await mkdir(target, { recursive: true, mode: 0o700 });
  // inside the target: the renames that strip the prefix stay on one filesystem
  const staging = join(target, `.backupctl-restore-${randomBytes(6).toString("hex")}`);
  await mkdir(staging, { mode: 0o700 });
  try {
    logger.info(
      `Restoring ${service ? `service "${service.type}/${service.name}" of ` : ""}snapshot ${snapshot.shortId} (${snapshot.time.toISOString()}) into "${target}"`,
    );
    await runRestic(resticRestoreArgs(snapshot.id, staging, { include: includePaths(root, service) }), {
      ...restic,
      stdout: (line) => logger.debug(`restic restore: ${line}`),
      description: `restore snapshot ${snapshot.shortId}`,
    });
    const restoredRoot = join(staging, root);
    if (!(await stat(restoredRoot).catch(() => undefined))?.isDirectory()) {
      throw new BackupError(
        `Cannot restore snapshot ${snapshot.shortId}: restic restored nothing under "${root}"`,
        {
          hint: service
            ? "the service's directory is missing from this snapshot: was it backed up?"
            : undefined,
        },
      );
    }
    await moveContents(restoredRoot, target);
  } finally {
    await rm(staging, { recursive: true, force: true }).catch((error) =>
      logger.error(
        `Cannot remove the staging directory "${staging}": ${errorMessage(error)} (remove it by hand)`,
      ),
    );
  }

  const restoredServices = service ? [service] : await restoredServiceDirectories(target, manifest);
  const dumps = await findDumps(target, restoredServices);
  output.stdout(
    restoreSummary({ host: host.hostname, target, snapshot, manifest, services: restoredServices, dumps }),
  );
  return ExitCode.ok;
}

/** Returns whether the target exists, after checking it is a directory, empty unless force. Throws BackupError when it is not a directory, or is not empty without force. */
async function checkTarget(target: string, force: boolean): Promise<boolean> {
  const info = await lstat(target).catch((error) => {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw new BackupError(`Cannot restore into "${target}": ${errorMessage(error)}`, { cause: error });
  });
  if (!info) return false;
  if (!info.isDirectory()) {
    throw new BackupError(`Cannot restore into "${target}": it is not a directory`, { code: "usage" });
  }
  const entries = await readdir(target);
  if (entries.length > 0 && !force) {
    throw new BackupError(
      `Refusing to restore into "${target}": it is not empty (${entries.length} entries)`,
      {
        code: "usage",
        hint: "choose an empty or new directory, or add --force to replace files of the same name in it",
      },
    );
  }
  return true;
}

/** Returns the manifest's service list, or undefined when the snapshot has no readable manifest.json. */
async function readManifest(
  restic: ResticRunOptions,
  snapshotId: string,
  root: string,
  logger: Logger,
): Promise<{ archive_timestamp?: string; status?: string; services: ManifestServiceEntry[] } | undefined> {
  try {
    const result = await runRestic(resticDumpArgs(snapshotId, { path: `${root}/manifest.json` }), {
      ...restic,
      stdout: "capture",
      stderrLevel: "debug",
      description: "read manifest.json",
    });
    const parsed = JSON.parse(result.stdout ?? "") as { services?: unknown };
    const services = Array.isArray(parsed.services)
      ? parsed.services.filter(
          (entry): entry is ManifestServiceEntry =>
            typeof entry?.type === "string" && typeof entry?.name === "string",
        )
      : [];
    return { ...(parsed as object), services };
  } catch (error) {
    logger.warn(`This snapshot has no readable manifest.json: ${errorMessage(error)}`);
    return undefined;
  }
}

/** Returns the service to restore from the manifest; without one, a type/name is taken as written. Throws BackupError when it cannot be resolved. */
function resolveWantedService(
  manifest: { services: ManifestServiceEntry[] } | undefined,
  wanted: string,
): ManifestServiceEntry {
  if (manifest) return resolveService(manifest.services, wanted);
  const [type, name, ...rest] = wanted.split("/");
  if (!type || !name || rest.length > 0) {
    throw new BackupError(
      `Cannot restore service "${wanted}": the snapshot has no manifest to look its type up in`,
      {
        code: "usage",
        hint: "write it as type/name, as in the archive (docker/nextcloud)",
      },
    );
  }
  return { type, name };
}

/** Moves every entry of source into target: new names by rename, directories merged, files replaced. */
async function moveContents(source: string, target: string): Promise<void> {
  for (const name of await readdir(source)) {
    const from = join(source, name);
    const to = join(target, name);
    const existing = await lstat(to).catch(() => undefined);
    if (!existing) {
      await rename(from, to);
      continue;
    }
    const incoming = await lstat(from);
    if (existing.isDirectory() && incoming.isDirectory()) {
      await moveContents(from, to);
      await rmdir(from);
      continue;
    }
    // --force: what the snapshot holds wins over what was in the way
    await rm(to, { recursive: true, force: true });
    await rename(from, to);
  }
}

/** Returns the restored service directories: the manifest's services that are there, else every `<type>/<name>` directory. */
async function restoredServiceDirectories(
  target: string,
  manifest: { services: ManifestServiceEntry[] } | undefined,
): Promise<ManifestServiceEntry[]> {
  if (manifest) {
    const present: ManifestServiceEntry[] = [];
    for (const service of manifest.services) {
      if ((await stat(join(target, service.type, service.name)).catch(() => undefined))?.isDirectory()) {
        present.push(service);
      }
    }
    return present;
  }
  const found: ManifestServiceEntry[] = [];
  for (const type of await readdir(target)) {
    if (type.startsWith(".")) continue;
    const typeDir = join(target, type);
    if (!(await stat(typeDir)).isDirectory()) continue;
    for (const name of await readdir(typeDir)) {
      if ((await stat(join(typeDir, name))).isDirectory()) found.push({ type, name });
    }
  }
  return found;
}

/** Returns what restore prints: what went where, and each dump with its load command. */
export function restoreSummary(options: {
  host: string;
  target: string;
  snapshot: { shortId: string; time: Date };
  manifest: { archive_timestamp?: string; status?: string } | undefined;
  services: readonly ManifestServiceEntry[];
  dumps: readonly {
    service: string;
    path: string;
    kind: Parameters<typeof describeDumpKind>[0];
    command: string;
    note?: string;
  }[];
}): string {
  const lines = [
    `Restored snapshot ${options.snapshot.shortId} of ${options.host} (${options.snapshot.time.toISOString()}${options.manifest?.archive_timestamp ? `, archive ${options.manifest.archive_timestamp}` : ""}) into ${options.target}`,
  ];
  if (options.manifest)
    lines.push(
      `  manifest.json${options.manifest.status ? ` (archive status: ${options.manifest.status})` : ""}`,
    );
  for (const service of options.services) {
    lines.push(`  ${service.type}/${service.name}/${service.status ? ` (${service.status})` : ""}`);
  }
  lines.push("");
  if (options.dumps.length === 0) {
    lines.push("No database dumps in what was restored.");
  } else {
    lines.push("Database dumps and how to load them:");
    for (const dump of options.dumps) {
      lines.push(
        `  ${dump.path}`,
        `    ${describeDumpKind(dump.kind)} of ${dump.service}`,
        `    $ ${dump.command}`,
      );
      if (dump.note) lines.push(`    (${dump.note})`);
    }
  }
  return `${lines.join("\n")}\n`;
}
