// Where things are in a backupctl snapshot, as pure functions with table tests. A snapshot holds one
// path, the stable unpack directory `<local_temp_base_dir>/<host>/data`, whose contents are the archive:
// `manifest.json` and `<type>/<service>/…`. Restore picks the snapshot and the paths to include.

import { posix } from "node:path";
import { BackupError } from "../lib/errors.ts";
import type { Snapshot } from "../restic/output.ts";

/** A service as the manifest lists it. */
export interface ManifestServiceEntry {
  type: string;
  name: string;
  status?: string;
  error?: string;
}

/** Returns the snapshot a --snapshot value names: "latest" (the newest) or an ID or ID prefix. Throws BackupError when none or several match. */
export function selectSnapshot(
  snapshots: readonly Snapshot[],
  options: { wanted: string; host: string },
): Snapshot {
  const { wanted, host } = options;
  if (snapshots.length === 0) {
    throw new BackupError(`Cannot restore "${host}": its repository holds no snapshot of it`, {
      hint: "run backupctl server pull first, or check the host name",
    });
  }
  if (wanted === "latest") {
    return snapshots.reduce((newest, snapshot) =>
      snapshot.time.getTime() > newest.time.getTime() ? snapshot : newest,
    );
  }
  if (!/^[0-9a-f]{1,64}$/i.test(wanted)) {
    throw new BackupError(`Cannot restore snapshot "${wanted}": it is not a snapshot ID`, {
      code: "usage",
      hint: 'give an ID (or its first 8 characters) from "restic snapshots", or latest',
    });
  }
  const matches = snapshots.filter((snapshot) => snapshot.id.startsWith(wanted.toLowerCase()));
  if (matches.length === 1) return matches[0] as Snapshot;
  const listing = snapshots
    .slice(-5)
    .map((snapshot) => `${snapshot.shortId} (${snapshot.time.toISOString()})`)
    .join(", ");
  if (matches.length === 0) {
    throw new BackupError(`Cannot restore snapshot "${wanted}" of "${host}": no such snapshot`, {
      code: "usage",
      hint: `newest snapshots: ${listing}`,
    });
  }
  throw new BackupError(
    `Cannot restore snapshot "${wanted}" of "${host}": ${matches.length} snapshots start with it`,
    {
      code: "usage",
      hint: "give more characters of the ID",
    },
  );
}

/** Returns the one path a backupctl snapshot holds (the unpack directory). Throws BackupError for a snapshot of several paths. */
export function snapshotRoot(snapshot: Pick<Snapshot, "paths" | "shortId">): string {
  const [root, ...others] = snapshot.paths;
  if (root === undefined || others.length > 0 || !root.startsWith("/")) {
    throw new BackupError(
      `Cannot restore snapshot ${snapshot.shortId}: it holds ${snapshot.paths.length} paths (${snapshot.paths.join(", ")}), not the one directory backupctl server pull stores`,
      { hint: "restore it with restic restore directly" },
    );
  }
  return root;
}

/** Returns the service a --service value names ("type/name" or a name), from the manifest's list. Throws BackupError when none or several match. */
export function resolveService(
  services: readonly ManifestServiceEntry[],
  wanted: string,
): ManifestServiceEntry {
  const matches = wanted.includes("/")
    ? services.filter((service) => `${service.type}/${service.name}` === wanted)
    : services.filter((service) => service.name === wanted);
  if (matches.length === 1) return matches[0] as ManifestServiceEntry;
  const names = services.map((service) => `${service.type}/${service.name}`).join(", ") || "none";
  if (matches.length === 0) {
    throw new BackupError(`Cannot restore service "${wanted}": the snapshot has no such service`, {
      code: "usage",
      hint: `services in this snapshot: ${names}`,
    });
  }
  throw new BackupError(`Cannot restore service "${wanted}": it names ${matches.length} services`, {
    code: "usage",
    hint: `write it as type/name: ${matches.map((service) => `${service.type}/${service.name}`).join(", ")}`,
  });
}

/** Returns restic's --include paths: the manifest and one service's directory, or nothing (the whole snapshot). */
export function includePaths(
  root: string,
  service: Pick<ManifestServiceEntry, "type" | "name"> | undefined,
): string[] {
  if (!service) return [];
  return [posix.join(root, "manifest.json"), posix.join(root, service.type, service.name)];
}

/** Returns the `restic dump` argv that prints one file of a snapshot (read-only, without a lock). */
export function resticDumpArgs(snapshotId: string, options: { path: string }): string[] {
  return ["--no-lock", "dump", "--", snapshotId, options.path];
}
