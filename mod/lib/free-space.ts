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

/** Returns the bytes a check wants free: min_free_space_mb plus the estimate. */
export function requiredBytes(options: { minFreeMb: number; neededBytes: number }): number {
  return options.minFreeMb * mebibyte + options.neededBytes;
}

/** What a free-space check compares, in MiB for messages: "N MiB free" and "M MiB needed (min_free_space_mb … + … MiB estimated)". */
export function spaceFigures(
  availableBytes: number,
  options: { minFreeMb: number; neededBytes: number },
): { free: string; needed: string } {
  const required = requiredBytes(options);
  return {
    free: `${Math.floor(availableBytes / mebibyte)} MiB free`,
    needed: `${Math.ceil(required / mebibyte)} MiB needed (min_free_space_mb ${options.minFreeMb} + ${Math.ceil(options.neededBytes / mebibyte)} MiB estimated)`,
  };
}

/** Returns the error of a check that failed: where, for what, the figures, and the hint. */
export function notEnoughSpaceError(
  path: string,
  availableBytes: number,
  options: { minFreeMb: number; neededBytes: number; purpose: string; hint: string },
): BackupError {
  const { free, needed } = spaceFigures(availableBytes, options);
  return new BackupError(`Not enough free space in "${path}" for ${options.purpose}: ${free}, ${needed}`, {
    hint: options.hint,
  });
}

/** Throws BackupError when fewer than minFreeMb + neededBytes are free at path; hint says which settings to change. */
export async function ensureFreeSpace(
  path: string,
  options: { minFreeMb: number; neededBytes: number; purpose: string; hint: string },
): Promise<void> {
  const available = await availableBytes(path);
  if (available < requiredBytes(options)) {
    throw notEnoughSpaceError(path, available, options);
  }
}
