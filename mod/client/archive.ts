// The client's archive (DESIGN §6.6): `tar | compressor` into `<host>-<UTC ts>.tar.<gz|zst>.partial`,
// fsync, read back once (archive-check.ts: sha256, decompression, the server's tar parser and name
// rules, ./manifest.json present), then rename to the final name and write the `.sha256` sidecar
// atomically. Only verified archives are ever visible under a name the server accepts. tar reads the
// staging dir, plus the sources that `files` tasks left for it to read in place (direct-sources.ts).

import { chmod, chown, open, readdir, rename, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Tools } from "../config/tools.ts";
import { syncDirectory, writeFileAtomic } from "../lib/atomic.ts";
import { BackupError, errorMessage } from "../lib/errors.ts";
import { which } from "../lib/exec.ts";
import type { Logger } from "../lib/log.ts";
import { runPipeline } from "../lib/pipeline.ts";
import { formatArchiveTimestamp } from "../lib/time.ts";
import { checkArchive } from "./archive-check.ts";
import {
  type DirectSource,
  directDirectoryName,
  directTransform,
  findDirectSources,
  writeArchiveList,
} from "./direct-sources.ts";

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

/** What tar reads when files tasks left sources to read in place (direct-sources.ts). */
export interface TarSources {
  /** Every name to archive, NUL-separated: the staging dir's and the direct sources'. */
  listPath: string;
  direct: DirectSource[];
}

/** Returns the tar argv that writes the staging dir's contents (./manifest.json, ./<type>/…) and the direct sources to stdout. */
export function tarCreateArgv(tar: string[], stagingDir: string, sources?: TarSources): string[] {
  // gnu format: raw-byte long names (non-UTF-8 safe) and one header per member; numeric ids so the
  // server stores owners as they are on the client, whatever its own user database says
  const common = [
    ...tar,
    "--create",
    "--file=-",
    "--format=gnu",
    "--numeric-owner",
    "--directory",
    stagingDir,
  ];
  if (!sources) return [...common, "--", "."];
  return [
    ...common,
    // the list names every entry (the walk left out special files), each starting with "./"
    "--no-recursion",
    // a file that vanishes between the walk and tar is a warning, as rsync's exit 24 is
    "--ignore-failed-read",
    ...sources.direct.map((source) => directTransform(source.type, source.name)),
    "--null",
    "--verbatim-files-from",
    `--files-from=${sources.listPath}`,
  ];
}

// tar's "some files differ": with --create, a file changed (or shrank) while it was read
const tarFilesChanged = 1;

/** Returns what tar reads besides the staging dir, or undefined when no files task left a list. */
async function collectTarSources(stagingDir: string): Promise<TarSources | undefined> {
  if (!(await readdir(stagingDir)).includes(directDirectoryName)) return undefined;
  const direct = await findDirectSources(stagingDir);
  return { listPath: writeArchiveList(stagingDir, direct), direct };
}

/** What writeArchive produced. */
export interface ArchiveResult {
  path: string;
  name: string;
  sha256: string;
  bytes: number;
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
    const sources = await collectTarSources(stagingDir);
    const direct = sources?.direct ?? [];
    const inPlace = direct.map((source) => `${source.type}/${source.name}`).join(", ");
    logger.info(`Writing archive "${partialPath}"${inPlace ? ` (reading ${inPlace} in place)` : ""}`);
    const [tarResult] = await runPipeline(
      [tarCreateArgv(tools.tar_cmd, stagingDir, sources), compressorArgv(options.compression, tools)],
      {
        stdoutFile: { path: partialPath, mode: 0o600 },
        okExitCodes: [[0, tarFilesChanged]],
        logger,
        signal: options.signal,
        description: "create the archive",
      },
    );
    const tarMessages = tarResult?.stderrTail.filter((line) => line.trim() !== "") ?? [];
    if (tarResult?.exitCode === tarFilesChanged) {
      logger.warn("Some files changed while they were archived; each is stored as it was read");
    }
    for (const line of tarMessages) logger.warn(line);
    await syncFile(partialPath);

    // read back: the stream's own checksum, the tar structure and names as the server checks them, the manifest
    const { sha256, bytes: size } = await checkArchive(partialPath, options.compression.algorithm, {
      logger,
      signal: options.signal,
      zstdCommand: tools.zstd_cmd,
    });
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
