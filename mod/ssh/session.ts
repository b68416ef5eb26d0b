// The server pull's only channel to a client: an SSH connection with strict host-key verification
// that opens the SFTP subsystem and nothing else, so the client can confine the backup account to
// `ForceCommand internal-sftp` in a chroot (DESIGN §7). Every request fails when the connection does.

import type { Client, SFTPWrapper, Stats } from "ssh2";
import { BackupError, errorMessage } from "../lib/errors.ts";
import { openSftpConnection, type SftpConnectOptions } from "./connect.ts";
import { abortError, describeEndpoint, type SshEndpoint } from "./connection.ts";
import { SftpReadStream } from "./read-stream.ts";

/** How to reach one client, and how long a download may sit idle. */
export interface SftpSessionOptions extends SftpConnectOptions {
  /** A download fails when no data arrives for this long (default 60 s). */
  idleTimeoutMs?: number;
}

/** File attributes as the server reports them; a field is undefined when the server left it out. */
export interface RemoteStat {
  size: number | undefined;
  mtime: Date | undefined;
  mode: number | undefined;
  uid: number | undefined;
  gid: number | undefined;
  isDirectory: boolean;
  isFile: boolean;
  isSymbolicLink: boolean;
}

/** One directory entry: its name exactly as the server sent it, and its attributes. */
export interface RemoteEntry {
  name: string;
  attributes: RemoteStat;
}

/** Options of SftpSession.createReadStream. */
export interface RemoteReadOptions {
  highWaterMark?: number;
  start?: number;
}

// SFTP status codes (draft-ietf-secsh-filexfer-02 §7), as ssh2 puts them on error.code
const sftpStatusEndOfFile = 1;
const sftpStatusNoSuchFile = 2;
const defaultChunkSize = 256 * 1024;
const readWindowBytes = 2 * 1024 * 1024;
const defaultMaxEntries = 100_000;

// errors whose SFTP status was NO_SUCH_FILE; a WeakSet, because ssh2 also puts numeric codes on
// disconnect errors (2 is also SSH_DISCONNECT_PROTOCOL_ERROR), so error.code alone proves nothing
const noSuchFileErrors = new WeakSet<object>();

/**
 * Returns true only when error is an SFTP "no such file" answer from this module. Anything else
 * (permission denied, I/O error, a lost connection) must count as locked or unknown, never as absent.
 */
export function isNoSuchFile(error: unknown): boolean {
  return typeof error === "object" && error !== null && noSuchFileErrors.has(error);
}

/** An open, host-verified SFTP session to one client. */
export class SftpSession {
  readonly endpoint: SshEndpoint;
  private readonly client: Client;
  private readonly sftp: SFTPWrapper;
  private readonly options: SftpSessionOptions;
  private readonly pending = new Set<(error: BackupError) => void>();
  private readonly streams = new Set<SftpReadStream>();
  private closedError: BackupError | undefined;
  private readonly closed: Promise<void>;
  private readonly onAbort = () => this.markClosed(abortError(this.endpoint, this.options.signal?.reason));

  private constructor(client: Client, sftp: SFTPWrapper, endpoint: SshEndpoint, options: SftpSessionOptions) {
    this.client = client;
    this.sftp = sftp;
    this.endpoint = endpoint;
    this.options = options;
    const target = describeEndpoint(endpoint);
    this.closed = new Promise((resolve) => client.once("close", () => resolve()));
    client.on("error", (error) => {
      this.markClosed(
        new BackupError(`Lost connection to "${target}": ${errorMessage(error)}`, {
          hint: "the server or the network stopped answering; the host's run was abandoned",
          cause: error,
        }),
      );
    });
    client.on("close", () =>
      this.markClosed(new BackupError(`Lost connection to "${target}": connection closed`)),
    );
    sftp.on("close", () =>
      this.markClosed(new BackupError(`Lost connection to "${target}": SFTP channel closed`)),
    );
    sftp.on("error", (error: Error) =>
      this.markClosed(
        new BackupError(`Lost connection to "${target}": ${errorMessage(error)}`, { cause: error }),
      ),
    );
    options.signal?.addEventListener("abort", this.onAbort, { once: true });
    if (options.signal?.aborted) this.onAbort();
  }

  /**
   * Connects, verifies the host key against known_hosts before authenticating, and opens SFTP.
   * Throws BackupError when the key file or known_hosts is unusable, the host key is not trusted,
   * the connection or authentication fails, the SFTP subsystem is refused, or signal aborts.
   */
  static async connect(options: SftpSessionOptions): Promise<SftpSession> {
    const { client, sftp, endpoint } = await openSftpConnection(options);
    return new SftpSession(client, sftp, endpoint, options);
  }

  /** Returns the attributes of path (following symlinks). Throws BackupError; see isNoSuchFile. */
  async stat(path: string): Promise<RemoteStat> {
    const stats = await this.request<Stats>("stat", path, (done) => this.sftp.stat(path, done));
    return toRemoteStat(stats);
  }

  /**
   * Returns the entries of a directory, without "." and "..", in server order.
   * Throws BackupError when it cannot be read or holds more than maxEntries entries.
   */
  async list(path: string, options: { maxEntries?: number } = {}): Promise<RemoteEntry[]> {
    const maxEntries = options.maxEntries ?? defaultMaxEntries;
    const handle = await this.request<Buffer>("open directory", path, (done) =>
      this.sftp.opendir(path, done),
    );
    const entries: RemoteEntry[] = [];
    try {
      for (;;) {
        const batch = await this.request<{ filename: string; attrs: Stats }[] | undefined>(
          "list",
          path,
          (done) =>
            this.sftp.readdir(handle, (error, list) => {
              const code = (error as { code?: unknown } | undefined)?.code;
              if (code === sftpStatusEndOfFile) return done(undefined, undefined);
              done(error, list);
            }),
        );
        if (batch === undefined) break;
        for (const entry of batch)
          entries.push({ name: entry.filename, attributes: toRemoteStat(entry.attrs) });
        if (entries.length > maxEntries)
          throw new BackupError(
            `Cannot list "${path}" on "${describeEndpoint(this.endpoint)}": more than ${maxEntries} entries`,
            {
              hint: "the directory is not a backup directory, or it needs cleaning up",
            },
          );
      }
    } finally {
      if (!this.closedError) this.sftp.close(handle, () => undefined);
    }
    return entries;
  }

  /** Returns a Readable of a remote file, with read-ahead, backpressure and the idle timeout. */
  createReadStream(path: string, options: RemoteReadOptions = {}): SftpReadStream {
    // ssh2 learns the server's read limit (limits@openssh.com) but keeps it private; larger requests
    // would be split into sequential round trips
    const serverLimit = (this.sftp as unknown as { _maxReadLen?: number })._maxReadLen;
    const chunkSize = Math.min(defaultChunkSize, serverLimit && serverLimit > 0 ? serverLimit : 32 * 1024);
    const stream = new SftpReadStream(this.sftp, path, {
      highWaterMark: options.highWaterMark,
      start: options.start,
      idleTimeoutMs: this.options.idleTimeoutMs ?? 60_000,
      chunkSize,
      concurrency: Math.max(2, Math.ceil(readWindowBytes / chunkSize)),
      description: `"${path}" on "${describeEndpoint(this.endpoint)}"`,
    });
    if (this.closedError) {
      const error = this.closedError;
      queueMicrotask(() => stream.destroy(error));
      return stream;
    }
    this.streams.add(stream);
    stream.once("close", () => this.streams.delete(stream));
    return stream;
  }

  /** Renames a remote file. Throws BackupError when the server refuses. */
  async rename(from: string, to: string): Promise<void> {
    await this.request<void>("rename", `${from}" to "${to}`, (done) => this.sftp.rename(from, to, done));
  }

  /** Removes a remote file. Throws BackupError when the server refuses. */
  async unlink(path: string): Promise<void> {
    await this.request<void>("remove", path, (done) => this.sftp.unlink(path, done));
  }

  /** Creates a remote directory. Throws BackupError when the server refuses (also when it exists). */
  async mkdir(path: string, options: { mode?: number } = {}): Promise<void> {
    await this.request<void>("create directory", path, (done) =>
      this.sftp.mkdir(path, { mode: options.mode ?? 0o700 }, done),
    );
  }

  /** Whether the session can no longer be used. */
  get isClosed(): boolean {
    return this.closedError !== undefined;
  }

  /** Closes the session; pending requests fail. Never throws. */
  async close(): Promise<void> {
    this.markClosed(new BackupError(`The SFTP session to "${describeEndpoint(this.endpoint)}" is closed`));
    const timer = setTimeout(() => this.client.destroy(), 2000);
    await this.closed;
    clearTimeout(timer);
  }

  /** Records the first reason the session ended, fails everything pending with it, and ends the connection. */
  private markClosed(error: BackupError): void {
    if (this.closedError) return;
    this.closedError = error;
    this.options.signal?.removeEventListener("abort", this.onAbort);
    for (const reject of this.pending) reject(error);
    this.pending.clear();
    for (const stream of this.streams) stream.destroy(error);
    this.streams.clear();
    this.client.end();
  }

  /** Runs one SFTP request; it rejects with the session's end reason if the connection goes first. */
  private request<T>(
    action: string,
    path: string,
    start: (done: (error: Error | null | undefined, value?: T) => void) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closedError) return reject(this.closedError);
      this.pending.add(reject);
      const done = (error: Error | null | undefined, value?: T) => {
        if (!this.pending.delete(reject)) return;
        if (!error) return resolve(value as T);
        const failure = new BackupError(
          `Cannot ${action} "${path}" on "${describeEndpoint(this.endpoint)}": ${errorMessage(error)}`,
          { cause: error },
        );
        if ((error as { code?: unknown }).code === sftpStatusNoSuchFile) noSuchFileErrors.add(failure);
        reject(failure);
      };
      try {
        start(done);
      } catch (error) {
        done(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }
}

/** Converts ssh2's attributes into RemoteStat. */
function toRemoteStat(stats: Stats): RemoteStat {
  const seconds = (value: number | undefined) =>
    typeof value === "number" ? new Date(value * 1000) : undefined;
  return {
    size: typeof stats.size === "number" ? stats.size : undefined,
    mtime: seconds(stats.mtime),
    mode: typeof stats.mode === "number" ? stats.mode : undefined,
    uid: typeof stats.uid === "number" ? stats.uid : undefined,
    gid: typeof stats.gid === "number" ? stats.gid : undefined,
    isDirectory: typeof stats.mode === "number" && stats.isDirectory(),
    isFile: typeof stats.mode === "number" && stats.isFile(),
    isSymbolicLink: typeof stats.mode === "number" && stats.isSymbolicLink(),
  };
}
