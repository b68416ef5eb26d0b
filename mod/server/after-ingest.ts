// What happens to a stored archive on the client (hosts[].after_ingest, DESIGN §7.6): `move` it with
// its sidecar into done/ and keep only the newest there (the original's behaviour), `delete` both,
// or `keep` them. SFTP requests only, so a chrooted internal-sftp account can do it.

import type { ServerHostConfig } from "../config/server.ts";
import { errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { isNoSuchFile, type SftpSession } from "../ssh/session.ts";
import { type RemoteArchive, selectNewestArchive } from "./select.ts";

/** Applies after_ingest to the archive just stored. Throws BackupError when the client refuses a request. */
export async function cleanUpClient(
  session: SftpSession,
  host: Pick<ServerHostConfig, "hostname" | "remote_tar_dir" | "after_ingest">,
  archive: RemoteArchive,
  logger: Logger,
): Promise<void> {
  const directory = host.remote_tar_dir.replace(/\/$/, "");
  const files = [archive.name, archive.sidecarName];
  if (host.after_ingest === "keep") return;
  if (host.after_ingest === "delete") {
    for (const name of files) await session.unlink(`${directory}/${name}`);
    logger.info(`Deleted "${archive.name}" on the client (after_ingest: delete)`);
    return;
  }
  const doneDirectory = `${directory}/done`;
  try {
    await session.stat(doneDirectory);
  } catch (error) {
    if (!isNoSuchFile(error)) throw error;
    await session.mkdir(doneDirectory, { mode: 0o750 });
  }
  for (const name of files) await session.rename(`${directory}/${name}`, `${doneDirectory}/${name}`);
  logger.info(`Moved "${archive.name}" into done/ on the client (after_ingest: move)`);

  // keep only the newest archive (and its sidecar) in done/
  const entries = await session.list(doneDirectory);
  const keep = selectNewestArchive(entries, host.hostname, {
    now: new Date(8640000000000000),
    maxClockSkewMs: 0,
  }).newest;
  for (const entry of entries) {
    const isArchiveFile =
      entry.name.startsWith(`${host.hostname}-`) && /\.tar\.(gz|zst)(\.sha256)?$/.test(entry.name);
    if (!isArchiveFile || !keep || entry.name === keep.name || entry.name === keep.sidecarName) continue;
    try {
      await session.unlink(`${doneDirectory}/${entry.name}`);
    } catch (error) {
      logger.warn(`Cannot remove the old "${entry.name}" from done/ on the client: ${errorMessage(error)}`);
    }
  }
}
