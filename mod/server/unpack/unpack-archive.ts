// The server's one-pass unpack (DESIGN §7.4): compressed bytes from SFTP → sha256 → decompressor →
// tar parser → extractor, with backpressure at every step, so memory stays flat and the download,
// decompression and extraction overlap. On any error the caller removes the target (removeTree).

import { createHash } from "node:crypto";
import { BackupError, errorMessage } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import {
  type Compression,
  type Decompressor,
  type DecompressorMode,
  startDecompressor,
  waitForDrain,
} from "../../lib/tar/decompressor.ts";
import { defaultPathLimits } from "../../lib/tar/entry-path.ts";
import { TarParser } from "../../lib/tar/parser.ts";
import { Extractor } from "./extractor.ts";
import { prepareTargetDirectory } from "./target-directory.ts";

/** What unpackArchive needs. */
export interface UnpackOptions {
  /** A fresh directory (created 0700) whose parent is 0700 and owned by this user. */
  targetDir: string;
  compression: Compression;
  /** Hex sha256 of the compressed archive (the sidecar); checked when the stream ends. */
  expectedSha256?: string;
  /** Size of the compressed archive in bytes; more bytes fail at once, fewer at the end. */
  expectedSize?: number;
  /** Most decompressed (tar) bytes accepted. */
  maxBytes: number;
  /** Most archive members accepted. */
  maxEntries: number;
  /** Most path components of a member (default 512). */
  maxDepth?: number;
  /** Longest member name in bytes (default 4000, leaving room for the target below PATH_MAX). */
  maxPathBytes?: number;
  logger: Logger;
  signal?: AbortSignal;
  /** Apply archived uid/gid (default: when running as root). */
  preserveOwners?: boolean;
  /** Where decompression runs (default "inline": node:zlib on Bun's worker threads). */
  decompressor?: DecompressorMode;
}

/** What an unpack produced. */
export interface UnpackResult {
  /** Archive members created. */
  entries: number;
  /** Decompressed tar bytes. */
  bytes: number;
  /** Bytes of regular-file data. */
  fileBytes: number;
  /** Hex sha256 of the compressed bytes received. */
  sha256: string;
  compressedBytes: number;
  /** ./manifest.json of the archive, parsed, when present. */
  manifest?: unknown;
}

/** Compressed bytes as they arrive (a Node Readable is one). */
export type ArchiveSource = AsyncIterable<Uint8Array>;

/**
 * Unpacks a compressed tar stream into options.targetDir in one pass. Throws BackupError when the
 * target is not fresh, an entry is refused, a cap is reached, the stream is truncated or corrupt,
 * the size or checksum differs from the sidecar, or the signal aborts; the caller then removes the
 * target with removeTree.
 */
export async function unpackArchive(source: ArchiveSource, options: UnpackOptions): Promise<UnpackResult> {
  if (options.signal?.aborted) throw abortError(options.signal);
  prepareTargetDirectory(options.targetDir);
  const extractor = new Extractor(options.targetDir, {
    maxDepth: options.maxDepth ?? defaultPathLimits.maxDepth,
    maxPathBytes: options.maxPathBytes ?? defaultPathLimits.maxPathBytes,
    preserveOwners: options.preserveOwners ?? process.geteuid?.() === 0,
  });
  const parser = new TarParser(extractor, { maxBytes: options.maxBytes, maxEntries: options.maxEntries });
  // the pipeline's own stops: the caller's abort (passed on to the decompressor), and a content failure
  const abort = new AbortController();
  const onAbort = () => abort.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const aborted = () => abortError(options.signal);
  const contentFailure = new AbortController();
  const decompressor = startDecompressor(options.compression, {
    mode: options.decompressor ?? "inline",
    logger: options.logger,
    signal: abort.signal,
  });
  const hash = createHash("sha256");
  let compressedBytes = 0;
  let contentError: unknown;
  let isKilled = false;
  let isStopping = false;
  let isSourceRead = false;

  /** Reads the source into the hash and the decompressor; after a content error only hashes, or stops. */
  async function feed(): Promise<void> {
    const iterator = source[Symbol.asyncIterator]();
    let isDone = false;
    try {
      while (true) {
        const next = await unlessAborted(iterator.next(), abort.signal, aborted);
        if (next.done) {
          isDone = true;
          isSourceRead = true;
          break;
        }
        const chunk = next.value;
        hash.update(chunk);
        compressedBytes += chunk.length;
        if (options.expectedSize !== undefined && compressedBytes > options.expectedSize) {
          throw new BackupError(
            `Cannot unpack archive: more than the expected ${options.expectedSize} bytes arrived`,
            { hint: "the archive changed on the client while it was read" },
          );
        }
        if (contentError !== undefined) {
          // hashing the rest tells a corrupted transfer from an archive that is bad at its source; only
          // with a known size, which bounds it: a hostile server may send no size and never end the file
          if (options.expectedSha256 === undefined || options.expectedSize === undefined) break;
          continue;
        }
        if (!decompressor.input.write(chunk)) {
          await unlessAborted(waitForDrain(decompressor.input, contentFailure.signal), abort.signal, aborted);
        }
      }
      if (contentError === undefined) decompressor.input.end();
    } finally {
      if (!isDone) void Promise.resolve(iterator.return?.()).catch(() => undefined);
    }
  }

  /** Parses the decompressed stream; waits for the decompressor before judging the end. */
  async function consume(): Promise<void> {
    try {
      for await (const chunk of decompressedChunks(decompressor, options.compression)) {
        // after a failure on the feeding side nothing more may be written: the caller removes the target
        if (isStopping) break;
        parser.write(chunk);
      }
    } catch (error) {
      isKilled = true;
      decompressor.kill();
      throw error;
    }
    // a decompressor that failed explains a short tar stream better than the parser can
    await decompressor.wait();
    parser.end();
  }

  const consumed = consume().catch((error: unknown) => {
    contentError = error;
    contentFailure.abort();
  });
  try {
    await feed();
    await unlessAborted(consumed, abort.signal, aborted);
  } catch (error) {
    isStopping = true;
    if (!isKilled) decompressor.kill();
    await consumed;
    extractor.dispose();
    if (abort.signal.aborted) throw aborted();
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  const sha256 = hash.digest("hex");
  checkIntegrity({ compressedBytes, sha256, contentError, isSourceRead }, options);
  if (contentError !== undefined) {
    extractor.dispose();
    throw contentError;
  }
  const manifestBytes = extractor.finish();
  const result: UnpackResult = {
    entries: parser.entries,
    bytes: parser.bytes,
    fileBytes: parser.fileBytes,
    sha256,
    compressedBytes,
  };
  if (manifestBytes !== undefined) result.manifest = parseManifest(manifestBytes);
  options.logger.debug(
    `unpacked ${result.entries} entries, ${result.bytes} bytes from ${compressedBytes} compressed bytes`,
  );
  return result;
}

/** Yields the decompressor's output; a failure of the stream itself becomes a BackupError naming the decompression. */
async function* decompressedChunks(
  decompressor: Decompressor,
  compression: Compression,
): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of decompressor.output) yield chunk as Uint8Array;
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(`Cannot decompress the ${compression} archive: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/** Throws BackupError when size or checksum differ from the sidecar; an earlier content error becomes the cause. */
function checkIntegrity(
  received: { compressedBytes: number; sha256: string; contentError: unknown; isSourceRead: boolean },
  options: UnpackOptions,
): void {
  const cause = received.contentError;
  // a stream abandoned after a content error has no whole-file checksum to compare
  if (!received.isSourceRead) return;
  const note = cause === undefined ? "" : ` (unpacking had also failed: ${errorMessage(cause)})`;
  if (options.expectedSize !== undefined && received.compressedBytes !== options.expectedSize) {
    throw new BackupError(
      `Cannot accept archive: ${received.compressedBytes} bytes arrived, the archive has ${options.expectedSize}${note}`,
      { hint: "the transfer was cut short; everything unpacked from it is removed", cause },
    );
  }
  const expected = options.expectedSha256?.toLowerCase();
  if (expected !== undefined && received.sha256 !== expected) {
    throw new BackupError(
      `Cannot accept archive: its sha256 is ${received.sha256}, the sidecar says ${expected}${note}`,
      {
        hint: "the archive was corrupted or altered after the client wrote it; everything unpacked from it is removed",
        cause,
      },
    );
  }
}

/** Parses manifest.json. Throws BackupError when it is not JSON. */
function parseManifest(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new BackupError(`Cannot read "manifest.json" of the archive: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/** Returns the error for an aborted unpack. */
function abortError(signal: AbortSignal | undefined): BackupError {
  return new BackupError("Cannot unpack archive: aborted", { cause: signal?.reason });
}

/**
 * Settles as promise does, or rejects as soon as signal aborts. Listeners are removed on settling:
 * a Promise.race against one long-pending promise would keep every chunk it ever returned alive.
 */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal, error: () => unknown): Promise<T> {
  if (signal.aborted) return Promise.reject(error());
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(error());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (reason: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(reason);
      },
    );
  });
}
