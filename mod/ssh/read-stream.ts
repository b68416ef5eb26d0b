// Downloading an archive over SFTP as a Node Readable. ssh2's own read stream keeps one request in
// flight, which halves throughput on a fast link; this one keeps several reads outstanding (as
// fastGet does), delivers them in order, stops asking when the consumer is full, and fails when the
// server goes quiet for longer than the idle timeout.
//
// Memory: ssh2 allocates a decipher and fresh buffers for every ~32 KiB packet, and each read slot is
// a fresh buffer. JavaScriptCore collects that garbage lazily, so a 700 MB download let the process
// grow to 260-290 MiB although less than 4 MiB is ever live; paced full collections (lib/gc.ts) keep
// the peak near 175 MiB whatever the archive size (measured with scripts/bench, docs/performance.md).

import { Readable } from "node:stream";
import type { SFTPWrapper } from "ssh2";
import { BackupError, errorMessage } from "../lib/errors.ts";
import { type CollectionPace, defaultCollectionPace, pacedCollector } from "../lib/gc.ts";

/** How a remote file is read. */
export interface SftpReadStreamOptions {
  /** Bytes the consumer may have buffered before reading pauses. */
  highWaterMark?: number;
  /** Byte offset to start at (default 0). */
  start?: number;
  /** Fail when no read completes for this long while reads are outstanding. */
  idleTimeoutMs: number;
  /** Bytes per SFTP read request (capped by the server's limit). */
  chunkSize: number;
  /** Read requests kept in flight. */
  concurrency: number;
  /** Names the file and server in errors: `"/srv/a.tar.gz" on web01:22`. */
  description: string;
  /** When to run a full garbage collection (default lib/gc's; false: never). */
  garbageCollection?: CollectionPace | false;
}

/** One read request: a fixed byte range, filled by one or more SFTP reads. */
interface ReadSlot {
  position: number;
  buffer: Buffer;
  filled: number;
  isDone: boolean;
  isEndOfFile: boolean;
}

/** A stateful download: an open remote handle and the reads in flight on it. */
export class SftpReadStream extends Readable {
  private readonly sftp: SFTPWrapper;
  private readonly path: string;
  private readonly options: SftpReadStreamOptions;
  private handle: Buffer | undefined;
  private slots: ReadSlot[] = [];
  private nextPosition: number;
  private outstandingReads = 0;
  private isWanted = false;
  private isEndReached = false;
  private readonly collectGarbage: (bytes: number) => void;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(sftp: SFTPWrapper, path: string, options: SftpReadStreamOptions) {
    super({ highWaterMark: options.highWaterMark ?? 1024 * 1024 });
    this.sftp = sftp;
    this.path = path;
    this.options = options;
    this.nextPosition = options.start ?? 0;
    this.collectGarbage = pacedCollector(options.garbageCollection ?? defaultCollectionPace);
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.startIdleTimer();
    this.sftp.open(this.path, "r", (error, handle) => {
      this.stopIdleTimer();
      if (error) return callback(this.readError("open", error));
      if (this.destroyed) {
        this.sftp.close(handle, () => undefined);
        return callback();
      }
      this.handle = handle;
      callback();
    });
  }

  override _read(): void {
    this.isWanted = true;
    this.pump();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stopIdleTimer();
    this.slots = [];
    const handle = this.handle;
    this.handle = undefined;
    // not awaited: on a dead connection the close would never answer
    if (handle) this.sftp.close(handle, () => undefined);
    callback(error);
  }

  /** Delivers finished reads in file order, then keeps the request window full while data is wanted. */
  private pump(): void {
    if (this.destroyed || this.isEndReached || this.handle === undefined) return;
    while (this.isWanted && this.slots[0]?.isDone) {
      const slot = this.slots.shift() as ReadSlot;
      if (slot.filled > 0) {
        this.isWanted = this.push(slot.buffer.subarray(0, slot.filled));
        this.collectGarbage(slot.filled);
      }
      if (slot.isEndOfFile) {
        this.isEndReached = true;
        this.slots = [];
        this.stopIdleTimer();
        this.push(null);
        return;
      }
    }
    const endOfFileSeen = this.slots.some((slot) => slot.isEndOfFile);
    while (this.isWanted && !endOfFileSeen && this.slots.length < this.options.concurrency) {
      const slot: ReadSlot = {
        position: this.nextPosition,
        buffer: Buffer.allocUnsafe(this.options.chunkSize),
        filled: 0,
        isDone: false,
        isEndOfFile: false,
      };
      this.nextPosition += this.options.chunkSize;
      this.slots.push(slot);
      this.requestRead(slot);
    }
  }

  /** Asks for the unfilled rest of a slot; a short answer asks again, an empty one marks the end. */
  private requestRead(slot: ReadSlot): void {
    const handle = this.handle;
    if (handle === undefined) return;
    if (this.outstandingReads++ === 0) this.startIdleTimer();
    const remaining = slot.buffer.length - slot.filled;
    this.sftp.read(
      handle,
      slot.buffer,
      slot.filled,
      remaining,
      slot.position + slot.filled,
      (error, bytesRead) => {
        if (--this.outstandingReads === 0) this.stopIdleTimer();
        else this.startIdleTimer();
        if (this.destroyed || this.isEndReached) return;
        if (error) {
          this.destroy(this.readError("read", error));
          return;
        }
        if (bytesRead === 0) {
          slot.isDone = true;
          slot.isEndOfFile = true;
        } else {
          slot.filled += bytesRead;
          if (slot.filled < slot.buffer.length) return this.requestRead(slot);
          slot.isDone = true;
        }
        this.pump();
      },
    );
  }

  /** (Re)starts the idle timer: it fires when no SFTP reply arrives for idleTimeoutMs. */
  private startIdleTimer(): void {
    if (this.idleTimer) {
      this.idleTimer.refresh();
      return;
    }
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      const seconds = Math.round(this.options.idleTimeoutMs / 100) / 10;
      this.destroy(
        new BackupError(`Reading ${this.options.description} stalled: no data for ${seconds} s`, {
          hint: "the server or the network stopped responding; the transfer was abandoned",
        }),
      );
    }, this.options.idleTimeoutMs);
  }

  private stopIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** Wraps an SFTP failure, keeping the ssh2 error (with its status code) as the cause. */
  private readError(action: string, error: Error): BackupError {
    return new BackupError(`Cannot ${action} ${this.options.description}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}
