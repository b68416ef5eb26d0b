// The server pull's only channel to a client: an SSH connection with strict host-key verification
// that opens the SFTP subsystem and nothing else, so the client can confine the backup account to
// `ForceCommand internal-sftp` in a chroot (DESIGN §7). Every request fails when the connection does.

import { Client, type SFTPWrapper, type Stats } from "ssh2";
import { BackupError, errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import {
  connectionError,
  describeEndpoint,
  hostKeyAlgorithms,
  hostKeyRefusal,
  type SshEndpoint,
} from "./connection.ts";
import { checkHostKey, knownKeyTypes, readKnownHosts } from "./known-hosts.ts";
import { readPrivateKey } from "./private-key.ts";
import { SftpReadStream } from "./read-stream.ts";

/** How to reach and authenticate to one client. */
export interface SftpSessionOptions {
  /** The configured host name; known_hosts is checked against it (and the port). */
  host: string;
  port?: number;
  /** Connect to this address instead of resolving host. */
  address?: string;
  username: string;
  privateKeyPath: string;
  knownHostsFile: string;
  /** Time allowed from TCP connect to a finished SSH handshake (default 20 s). */
  readyTimeoutMs?: number;
  /** Interval of SSH keepalive requests (default 15 s). */
  keepaliveIntervalMs?: number;
  /** Unanswered keepalives before the connection counts as dead (default 3). */
  keepaliveCountMax?: number;
  /** A download fails when no data arrives for this long (default 60 s). */
  idleTimeoutMs?: number;
  logger: Logger;
  /** Aborting closes the session and fails every pending request. */
  signal?: AbortSignal;
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
    options.signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  /**
   * Connects, verifies the host key against known_hosts before authenticating, and opens SFTP.
   * Throws BackupError when the key file or known_hosts is unusable, the host key is not trusted,
   * the connection or authentication fails, the SFTP subsystem is refused, or signal aborts.
   */
  static async connect(options: SftpSessionOptions): Promise<SftpSession> {
    const endpoint: SshEndpoint = { host: options.host, port: options.port ?? 22, address: options.address };
    const target = describeEndpoint(endpoint);
    const logger = options.logger;
    if (options.signal?.aborted) throw abortError(endpoint, options.signal.reason);
    const privateKey = await readPrivateKey(options.privateKeyPath);
    const entries = await readKnownHosts(options.knownHostsFile, logger);
    const knownTypes = knownKeyTypes(entries, endpoint.host, endpoint.port);
    const algorithms = hostKeyAlgorithms(knownTypes);
    if (knownTypes.length > 0 && algorithms.length === 0)
      throw new BackupError(
        `Cannot verify "${target}": known_hosts "${options.knownHostsFile}" holds only ${knownTypes.join(", ")} keys for it`,
        { hint: `record an ed25519, ECDSA or RSA host key with \`backupctl server trust ${endpoint.host}\`` },
      );
    let refusal: BackupError | undefined;
    const client = new Client();
    return await new Promise<SftpSession>((resolve, reject) => {
      let isSettled = false;
      const settle = (error: unknown, session?: SftpSession) => {
        if (isSettled) return;
        isSettled = true;
        options.signal?.removeEventListener("abort", onAbort);
        if (session) return resolve(session);
        client.destroy();
        reject(refusal ?? connectionError(error, endpoint));
      };
      const onAbort = () => settle(abortError(endpoint, options.signal?.reason));
      options.signal?.addEventListener("abort", onAbort, { once: true });
      client.on("error", (error) => settle(error));
      client.on("close", () => settle(new Error("the server closed the connection")));
      client.on("ready", () => {
        client.sftp((error, sftp) => {
          if (error)
            return settle(
              new BackupError(`Cannot open SFTP on "${target}": ${errorMessage(error)}`, {
                hint: "the account must allow the sftp subsystem (Subsystem sftp, or ForceCommand internal-sftp)",
                cause: error,
              }),
            );
          if (isSettled) return sftp.end();
          logger.debug(`SFTP session open on ${target} as "${options.username}"`);
          settle(undefined, new SftpSession(client, sftp, endpoint, options));
        });
      });
      client.connect({
        host: endpoint.address ?? endpoint.host,
        port: endpoint.port,
        username: options.username,
        privateKey: privateKey.data,
        authHandler: ["publickey"],
        readyTimeout: options.readyTimeoutMs ?? 20_000,
        keepaliveInterval: options.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: options.keepaliveCountMax ?? 3,
        // an unknown host offers all types, so the refusal can show the fingerprint it presents
        ...(algorithms.length > 0 ? { algorithms: { serverHostKey: algorithms } } : {}),
        // runs during key exchange, before any user authentication is sent
        hostVerifier: (key: Buffer) => {
          const check = checkHostKey(entries, { host: endpoint.host, port: endpoint.port, key });
          if (check.verdict === "trusted") {
            logger.debug(`Host key of ${target} verified: ${check.keyType} ${check.fingerprint}`);
            return true;
          }
          refusal = hostKeyRefusal(endpoint, check, options.knownHostsFile);
          logger.debug(
            `Host key of ${target} refused (${check.verdict}): ${check.keyType} ${check.fingerprint}`,
          );
          return false;
        },
      });
    });
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

/** Returns the error for a connection given up because the run is shutting down. */
function abortError(endpoint: SshEndpoint, reason: unknown): BackupError {
  const why = reason === undefined ? "" : `: ${errorMessage(reason)}`;
  return new BackupError(`Stopped talking to "${describeEndpoint(endpoint)}"${why}`, { cause: reason });
}
