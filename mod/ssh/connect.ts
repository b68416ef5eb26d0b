// Opening the pull's SSH connection: the key file and known_hosts are checked first, the host key is
// verified during key exchange (before any login attempt) against the types pinned for that host,
// then the key authenticates and the SFTP subsystem is opened — the only channel backupctl asks for.

import { Client, type SFTPWrapper } from "ssh2";
import { BackupError, errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import {
  abortError,
  connectionError,
  describeEndpoint,
  hostKeyAlgorithms,
  hostKeyRefusal,
  type SshEndpoint,
} from "./connection.ts";
import { checkHostKey, knownKeyTypes, readKnownHosts } from "./known-hosts.ts";
import { readPrivateKey } from "./private-key.ts";

/** How to reach and authenticate to one client. */
export interface SftpConnectOptions {
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
  logger: Logger;
  /** Aborting gives up the connection attempt (and, in the session, every pending request). */
  signal?: AbortSignal;
}

/** An authenticated connection with its SFTP channel open. */
export interface SftpConnection {
  client: Client;
  sftp: SFTPWrapper;
  endpoint: SshEndpoint;
}

/**
 * Connects, verifies the host key before authenticating, logs in with the key and opens SFTP.
 * Throws BackupError when the key file or known_hosts is unusable, the host key is not trusted,
 * the connection or authentication fails, the SFTP subsystem is refused, or signal aborts.
 */
export async function openSftpConnection(options: SftpConnectOptions): Promise<SftpConnection> {
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
  return await new Promise<SftpConnection>((resolve, reject) => {
    let isSettled = false;
    const settle = (error: unknown, sftp?: SFTPWrapper) => {
      if (isSettled) return;
      isSettled = true;
      options.signal?.removeEventListener("abort", onAbort);
      if (sftp) return resolve({ client, sftp, endpoint });
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
        settle(undefined, sftp);
      });
    });
    try {
      client.connect({
        host: endpoint.address ?? endpoint.host,
        port: endpoint.port,
        username: options.username,
        privateKey: privateKey.data,
        authHandler: ["publickey"],
        readyTimeout: options.readyTimeoutMs ?? 20_000,
        keepaliveInterval: options.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: options.keepaliveCountMax ?? 3,
        // an unknown host is offered every type, so the refusal can show the fingerprint it presents
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
    } catch (error) {
      settle(error);
    }
  });
}
