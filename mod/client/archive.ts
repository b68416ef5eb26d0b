// The client's archive (DESIGN §6.6): `tar | compressor` into `<host>-<UTC ts>.tar.<gz|zst>.partial`,
// fsync, read back through the decompressor and `tar --list` (which must find ./manifest.json), then
// rename to the final name and write the `.sha256` sidecar atomically. Only verified archives are
// ever visible under a name the server accepts.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, chown, open, rename, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Tools } from "../config/tools.ts";
import { syncDirectory, writeFileAtomic } from "../lib/atomic.ts";
import { BackupError, errorMessage } from "../lib/errors.ts";
import { which } from "../lib/exec.ts";
import type { Logger } from "../lib/log.ts";
import { runPipeline } from "../lib/pipeline.ts";
import { formatArchiveTimestamp } from "../lib/time.ts";

/** The compression of an archive. */
export type CompressionAlgorithm = "gzip" | "zstd";

/** Compression settings from client_config.yml. */
export interface CompressionSettings {
  algorithm: CompressionAlgorithm;
  /** gzip 1–9 (default 6), zstd 1–19 (default 3). */
  level?: number;
  /** Compression threads; 0 = all cores (pigz and zstd only). */
  threads?: number;
}

/** The commands the archive is made with (`tools.*_cmd`, each an argv prefix). */
export type ArchiveTools = Pick<Tools, "tar_cmd" | "gzip_cmd" | "pigz_cmd" | "zstd_cmd">;

/** Returns the file extension of an algorithm. */
export function archiveExtension(algorithm: CompressionAlgorithm): string {
  return algorithm === "zstd" ? "tar.zst" : "tar.gz";
}

/** Returns the final archive name `<host>-<YYYYMMDD_HHMMSS>.tar.<ext>` for a UTC time. */
export function archiveFileName(hostname: string, time: Date, algorithm: CompressionAlgorithm): string {
  return `${hostname}-${formatArchiveTimestamp(time)}.${archiveExtension(algorithm)}`;
}

/** Returns the compressor argv: pigz when installed (parallel gzip), else gzip; zstd with threads. Pure apart from the PATH lookup of pigz. */
export function compressorArgv(
  settings: CompressionSettings,
  tools: ArchiveTools,
  hasPigz = Boolean(which(tools.pigz_cmd[0] ?? "pigz")),
): string[] {
  if (settings.algorithm === "zstd") {
    const level = settings.level ?? 3;
    return [...tools.zstd_cmd, `-${level}`, `-T${settings.threads ?? 0}`, "-q", "-c"];
  }
  const level = settings.level ?? 6;
  if (hasPigz) {
    const threads = settings.threads && settings.threads > 0 ? ["-p", String(settings.threads)] : [];
    return [...tools.pigz_cmd, `-${level}`, ...threads, "-c"];
  }
  return [...tools.gzip_cmd, `-${level}`, "-c"];
}

/** Returns the decompressor argv that reads path and writes to stdout. */
export function decompressorArgv(
  algorithm: CompressionAlgorithm,
  tools: ArchiveTools,
  path: string,
): string[] {
  if (algorithm === "zstd") return [...tools.zstd_cmd, "-d", "-c", "-q", "--", path];
  return [...tools.gzip_cmd, "-d", "-c", "--", path];
}

/** Returns the tar argv that writes the staging dir's contents (./manifest.json, ./<type>/…) to stdout. */
export function tarCreateArgv(tar: string[], stagingDir: string): string[] {
  // gnu format: raw-byte long names (non-UTF-8 safe) and one header per member; numeric ids so the
  // server stores owners as they are on the client, whatever its own user database says
  return [
    ...tar,
    "--create",
    "--file=-",
    "--format=gnu",
    "--numeric-owner",
    "--directory",
    stagingDir,
    "--",
    ".",
  ];
}

/** What writeArchive produced. */
export interface ArchiveResult {
  path: string;
  name: string;
  sha256: string;
  bytes: number;
}

/** Returns the hex sha256 of a file. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }))
    hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Flushes a file's data to disk. */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes, verifies and publishes the archive of stagingDir in baseDir. Throws BackupError when any step fails; no partial file is then left. */
export async function writeArchive(
  stagingDir: string,
  baseDir: string,
  options: {
    hostname: string;
    time: Date;
    compression: CompressionSettings;
    tools: ArchiveTools;
    owner: { uid: number; gid: number };
    logger: Logger;
    signal?: AbortSignal;
  },
): Promise<ArchiveResult> {
  const { logger, tools } = options;
  const name = archiveFileName(options.hostname, options.time, options.compression.algorithm);
  const finalPath = join(baseDir, name);
  const partialPath = `${finalPath}.partial`;
  try {
    logger.info(`Writing archive "${partialPath}"`);
    await runPipeline(
      [tarCreateArgv(tools.tar_cmd, stagingDir), compressorArgv(options.compression, tools)],
      {
        stdoutFile: { path: partialPath, mode: 0o600 },
        logger,
        signal: options.signal,
        description: "create the archive",
      },
    );
    await syncFile(partialPath);

    // read back: the decompressor checks the stream's own checksum, tar the structure and the manifest
    const [sha256] = await Promise.all([
      sha256File(partialPath),
      runPipeline(
        [
          decompressorArgv(options.compression.algorithm, tools, partialPath),
          [...tools.tar_cmd, "--list", "--file=-", "--", "./manifest.json"],
        ],
        { logger, signal: options.signal, description: "verify the archive" },
      ),
    ]);
    const { size } = await stat(partialPath);
    await chown(partialPath, options.owner.uid, options.owner.gid);
    await chmod(partialPath, 0o640);
    await rename(partialPath, finalPath);
    await syncDirectory(baseDir);

    const sidecarPath = `${finalPath}.sha256`;
    await writeFileAtomic(sidecarPath, `${sha256}  ${basename(finalPath)}\n`, { mode: 0o640 });
    await chown(sidecarPath, options.owner.uid, options.owner.gid);
    logger.info(`Archive "${name}" verified: ${size} bytes, sha256 ${sha256}`);
    return { path: finalPath, name, sha256, bytes: size };
  } catch (error) {
    await rm(partialPath, { force: true }).catch((cleanupError) =>
      logger.error(`Cannot remove "${partialPath}": ${errorMessage(cleanupError)}`),
    );
    if (error instanceof BackupError) throw error;
    throw new BackupError(`Cannot write the archive "${finalPath}": ${errorMessage(error)}`, {
      cause: error,
    });
  }
}
