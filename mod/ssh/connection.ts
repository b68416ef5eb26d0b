// What the SFTP session and `server trust` share about reaching a host: how it is named in messages,
// which host-key algorithms to offer for the pinned key types, and how ssh2's errors become
// BackupErrors with a hint an operator can act on.

import type { ServerHostKeyAlgorithm } from "ssh2";
import { BackupError, errnoCode, errorMessage } from "../lib/errors.ts";
import type { HostKeyCheck } from "./known-hosts.ts";

/** A host as configured: its name (what known_hosts is checked against), port, and optional address to dial. */
export interface SshEndpoint {
  host: string;
  port: number;
  /** Connect here instead of resolving host; host keys are still checked against host. */
  address?: string;
}

/** Host-key algorithms in order of preference, by the known_hosts key type they verify. */
const algorithmsByKeyType: [string, ServerHostKeyAlgorithm[]][] = [
  ["ssh-ed25519", ["ssh-ed25519"]],
  ["ecdsa-sha2-nistp256", ["ecdsa-sha2-nistp256"]],
  ["ecdsa-sha2-nistp384", ["ecdsa-sha2-nistp384"]],
  ["ecdsa-sha2-nistp521", ["ecdsa-sha2-nistp521"]],
  // an RSA key is used with SHA-2 signatures only; OpenSSH ≥ 8.8 refuses SHA-1 "ssh-rsa" as well
  ["ssh-rsa", ["rsa-sha2-512", "rsa-sha2-256"]],
];

/** Every host-key algorithm backupctl accepts, in order of preference. */
export const supportedHostKeyAlgorithms: ServerHostKeyAlgorithm[] = algorithmsByKeyType.flatMap(
  ([, algorithms]) => algorithms,
);

/** Returns how an endpoint is named in messages: `web01:22`, or `web01:22 (via 10.0.0.5)`. */
export function describeEndpoint(endpoint: SshEndpoint): string {
  const name = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
  const via = endpoint.address && endpoint.address !== endpoint.host ? ` (via ${endpoint.address})` : "";
  return `${name}:${endpoint.port}${via}`;
}

/** Returns the host-key algorithms that can verify keys of the given known_hosts types, best first. */
export function hostKeyAlgorithms(knownTypes: string[]): ServerHostKeyAlgorithm[] {
  return algorithmsByKeyType
    .filter(([type]) => knownTypes.includes(type))
    .flatMap(([, algorithms]) => algorithms);
}

/** Returns the error for a host key that known_hosts does not trust. */
export function hostKeyRefusal(
  endpoint: SshEndpoint,
  check: HostKeyCheck,
  knownHostsFile: string,
): BackupError {
  const target = describeEndpoint(endpoint);
  const key = `${check.keyType} key ${check.fingerprint}`;
  const trust = `backupctl server trust ${endpoint.host}`;
  if (check.verdict === "revoked")
    return new BackupError(
      `Refusing "${target}": host key revoked: its ${key} is marked @revoked in "${knownHostsFile}"`,
      {
        hint: `the host needs a new host key; verify it out of band, then run \`${trust}\``,
      },
    );
  if (check.verdict === "mismatch")
    return new BackupError(
      `Refusing "${target}": host key mismatch: it offered ${key}, which differs from the ${check.knownTypes.join(", ")} key(s) recorded in "${knownHostsFile}"`,
      {
        hint: `someone may be intercepting the connection; if the host was reinstalled, verify the new fingerprint out of band and run \`${trust} --replace\` or fix known_hosts`,
      },
    );
  return new BackupError(
    `Refusing "${target}": host key unknown: no entry in "${knownHostsFile}" for its ${key}`,
    {
      hint: `verify the fingerprint out of band, then run \`${trust}\` or add the key to known_hosts (never trusted on first use)`,
    },
  );
}

/** Turns an ssh2 connection error into a BackupError naming host:port, with a hint by cause. */
export function connectionError(error: unknown, endpoint: SshEndpoint): BackupError {
  if (error instanceof BackupError) return error;
  const target = describeEndpoint(endpoint);
  const message = errorMessage(error);
  const level =
    typeof error === "object" && error !== null ? (error as { level?: unknown }).level : undefined;
  const code = errnoCode(error);
  const fail = (reason: string, hint: string) =>
    new BackupError(`Cannot connect to "${target}": ${reason}`, { hint, cause: error });
  if (code === "ECONNREFUSED")
    return fail("connection refused", "check that sshd runs there and listens on that port");
  if (code === "ENOTFOUND" || code === "EAI_AGAIN")
    return fail(
      `cannot resolve "${endpoint.address ?? endpoint.host}"`,
      "check the hostname, or set the host's address",
    );
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "ETIMEDOUT")
    return fail(`host unreachable (${code})`, "check the network path and firewall");
  if (level === "client-timeout")
    return fail(
      "no SSH handshake within the handshake timeout",
      "the port accepts connections but sshd does not answer: check the port and the server's load",
    );
  if (level === "client-authentication")
    return fail(
      "the server refused the SSH key",
      "check ssh_user and that the key's public half is in that user's authorized_keys",
    );
  if (level === "handshake" && /host key|no matching/i.test(message))
    return fail(
      `the server offers no host key of the types pinned in known_hosts (${message})`,
      `if the host's keys changed legitimately, verify them and run \`backupctl server trust ${endpoint.host} --replace\``,
    );
  return fail(message, "check that the server runs OpenSSH with SFTP enabled");
}

/** Returns the error for a connection given up because the run is shutting down. */
export function abortError(endpoint: SshEndpoint, reason: unknown): BackupError {
  const why = reason === undefined ? "" : `: ${errorMessage(reason)}`;
  return new BackupError(`Stopped talking to "${describeEndpoint(endpoint)}"${why}`, { cause: reason });
}
