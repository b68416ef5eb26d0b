// Free-space checks against min_free_space_mb plus an estimate: the client's base_backup_dir before
// staging (from the last archive) and before archiving (what staging produced), and the server's
// local_temp_base_dir before a download (what the host's last unpack took).

import { statfs } from "node:fs/promises";
import { BackupError, errorMessage } from "./errors.ts";

const mebibyte = 1024 * 1024;

/** Returns the bytes available to unprivileged writers on the filesystem holding path. Throws BackupError when statfs fails. */
export async function availableBytes(path: string): Promise<number> {
  try {
    const stats = await statfs(path);
    return Number(stats.bavail) * Number(stats.bsize);
  } catch (error) {
    throw new BackupError(`Cannot read the free space of "${path}": ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/** Throws BackupError when fewer than minFreeMb + neededBytes are free at path; hint says which settings to change. */
export async function ensureFreeSpace(
  path: string,
  options: { minFreeMb: number; neededBytes: number; purpose: string; hint: string },
): Promise<void> {
  const available = await availableBytes(path);
  const required = options.minFreeMb * mebibyte + options.neededBytes;
  if (available < required) {
    throw new BackupError(
      `Not enough free space in "${path}" for ${options.purpose}: ${Math.floor(available / mebibyte)} MiB free, ${Math.ceil(required / mebibyte)} MiB needed (min_free_space_mb ${options.minFreeMb} + ${Math.ceil(options.neededBytes / mebibyte)} MiB estimated)`,
      { hint: options.hint },
    );
  }
}
