// `backupctl server trust HOST`: the only way a host key gets into known_hosts. It fetches the keys a
// host offers (one handshake per key type, each proven by the host's signature, no authentication),
// shows their fingerprints, and records them after the operator agrees.

import { mkdir, readFile, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { Client } from "ssh2";
import { writeFileAtomic } from "../lib/atomic.ts";
import { BackupError, ExitCode, errnoCode } from "../lib/errors.ts";
import { Logger } from "../lib/log.ts";
import { connectionError, describeEndpoint, hostKeyAlgorithms, type SshEndpoint } from "./connection.ts";
import {
  checkHostKey,
  formatKnownHostsLine,
  hostLookupName,
  type KnownHostsEntry,
  keyTypeOfBlob,
  matchesHost,
  parseKnownHosts,
  sha256Fingerprint,
} from "./known-hosts.ts";

/** A host key as the host presented it. */
export interface OfferedHostKey {
  keyType: string;
  blob: Buffer;
  fingerprint: string;
}

/** Options of trustHost, the action behind `backupctl server trust HOST`. */
export interface TrustHostOptions {
  host: string;
  port?: number;
  address?: string;
  knownHostsFile: string;
  /** Record without asking (`--yes`). */
  assumeYes: boolean;
  /** Replace entries of this host that hold other keys (`--replace`); without it they are a refusal. */
  replace?: boolean;
  /** Asks the operator; resolves true to go ahead. */
  confirm: (question: string) => Promise<boolean>;
  /** Where results go (stdout). */
  output: { write(text: string): unknown };
  timeoutMs?: number;
  logger?: Logger;
}

// one handshake per family: a server presents a single host key per connection
const keyTypeAttempts = [
  ["ssh-ed25519"],
  ["ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"],
  ["ssh-rsa"],
];

/**
 * Returns every host key the host offers among ed25519, ECDSA and RSA, each proven by a completed
 * key exchange; no user authentication is attempted. Throws BackupError when the host cannot be
 * reached or offers none of these types.
 */
export async function fetchHostKeys(options: {
  host: string;
  port?: number;
  address?: string;
  timeoutMs?: number;
}): Promise<OfferedHostKey[]> {
  const endpoint: SshEndpoint = { host: options.host, port: options.port ?? 22, address: options.address };
  const keys: OfferedHostKey[] = [];
  let lastError: unknown;
  for (const types of keyTypeAttempts) {
    const outcome = await fetchOneHostKey(endpoint, types, options.timeoutMs ?? 20_000);
    if (outcome instanceof Buffer) {
      if (!keys.some((key) => key.blob.equals(outcome)))
        keys.push({
          keyType: keyTypeOfBlob(outcome) ?? "unknown",
          blob: outcome,
          fingerprint: sha256Fingerprint(outcome),
        });
      continue;
    }
    lastError = outcome;
    // a type the host does not offer fails the algorithm negotiation; anything else is fatal
    const isNotOffered = /no matching|host key/i.test(String((outcome as Error | undefined)?.message));
    if (!isNotOffered) throw connectionError(outcome, endpoint);
  }
  if (keys.length === 0)
    throw new BackupError(
      `Cannot fetch host keys of "${describeEndpoint(endpoint)}": it offers no ed25519, ECDSA or RSA key`,
      {
        hint: "check that it runs OpenSSH",
        cause: lastError,
      },
    );
  return keys;
}

/** Runs one key exchange offering only the given key types; resolves the proven key blob or the error. */
function fetchOneHostKey(
  endpoint: SshEndpoint,
  keyTypes: string[],
  timeoutMs: number,
): Promise<Buffer | unknown> {
  return new Promise((resolve) => {
    const client = new Client();
    let offered: Buffer | undefined;
    let isSettled = false;
    const settle = (value: Buffer | unknown) => {
      if (isSettled) return;
      isSettled = true;
      client.destroy();
      resolve(value);
    };
    // "handshake" follows the host's signature check, so the key is proven; closing here, before
    // ssh2 asks for the ssh-userauth service, keeps the host from ever seeing a login attempt
    client.on("handshake", () => settle(offered ?? new Error("no host key was presented")));
    client.on("error", (error) => settle(error));
    client.on("close", () => settle(new Error("the server closed the connection during the key exchange")));
    try {
      client.connect({
        host: endpoint.address ?? endpoint.host,
        port: endpoint.port,
        // ssh2 insists on a user name; it is never sent, as the connection ends before authentication
        username: "backupctl",
        readyTimeout: timeoutMs,
        algorithms: { serverHostKey: hostKeyAlgorithms(keyTypes) },
        hostVerifier: (key: Buffer) => {
          offered = Buffer.from(key);
          return true;
        },
      });
    } catch (error) {
      settle(error);
    }
  });
}

/**
 * Appends lines to a known_hosts file atomically, keeping its mode (0600 for a new file).
 * Throws BackupError when it cannot be read or written.
 */
export async function appendKnownHosts(file: string, lines: string[]): Promise<void> {
  await rewriteKnownHosts(file, { removeLines: new Set(), append: lines });
}

/** Rewrites a known_hosts file without the given line numbers and with lines appended. */
async function rewriteKnownHosts(
  file: string,
  change: { removeLines: Set<number>; append: string[] },
): Promise<void> {
  let text = "";
  let mode = 0o600;
  try {
    text = await readFile(file, "utf8");
    mode = (await stat(file)).mode & 0o7777;
  } catch (error) {
    if (errnoCode(error) !== "ENOENT")
      throw new BackupError(`Cannot read known_hosts file "${file}"`, { cause: error });
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  }
  const kept = text.split("\n").filter((_, index) => !change.removeLines.has(index + 1));
  while (kept.length > 0 && kept[kept.length - 1] === "") kept.pop();
  await writeFileAtomic(file, `${[...kept, ...change.append].join("\n")}\n`, { mode });
}

/**
 * Shows the keys a host offers, asks (unless assumeYes), and records the new ones. Returns 0 when
 * the keys are recorded or already trusted, 1 when the operator declines. Throws BackupError when
 * the host is unreachable, offers a revoked key, or known_hosts holds other keys for it without replace.
 */
export async function trustHost(options: TrustHostOptions): Promise<number> {
  const endpoint: SshEndpoint = { host: options.host, port: options.port ?? 22, address: options.address };
  const target = describeEndpoint(endpoint);
  const logger = options.logger ?? new Logger("server:trust");
  const file = options.knownHostsFile;
  const entries = await readExistingEntries(file, logger);
  const keys = await fetchHostKeys({ ...endpoint, timeoutMs: options.timeoutMs });

  options.output.write(`Host keys offered by ${target}:\n`);
  for (const key of keys) options.output.write(`  ${key.keyType.padEnd(20)} ${key.fingerprint}\n`);

  const checks = keys.map((key) => ({ key, check: checkHostKey(entries, { ...endpoint, key: key.blob }) }));
  const revoked = checks.find(({ check }) => check.verdict === "revoked");
  if (revoked)
    throw new BackupError(
      `Refusing to trust "${target}": its ${revoked.key.keyType} key ${revoked.key.fingerprint} is marked @revoked in "${file}"`,
      {
        hint: "the host needs a new host key before it can be trusted",
      },
    );
  const newKeys = checks.filter(({ check }) => check.verdict !== "trusted").map(({ key }) => key);
  const conflicting = conflictingEntries(entries, endpoint, keys);
  if (conflicting.length > 0 && !options.replace) {
    const where = conflicting.map((entry) => `${entry.keyType} at line ${entry.line}`).join(", ");
    throw new BackupError(
      `Refusing to trust "${target}": "${file}" already holds other keys for it (${where})`,
      {
        hint: "someone may be intercepting the connection; if the host was reinstalled, verify the fingerprints above out of band and re-run with --replace",
      },
    );
  }
  if (newKeys.length === 0 && conflicting.length === 0) {
    options.output.write(`All of them are already trusted in ${file}.\n`);
    return ExitCode.ok;
  }
  const removeLines = replaceableLines(conflicting, endpoint, file);

  const verb = removeLines.size > 0 ? `replace ${removeLines.size} recorded key(s) with` : "record";
  const question = `Compare these fingerprints with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub). Trust them and ${verb} ${newKeys.length} key(s) in ${file}?`;
  if (!options.assumeYes && !(await options.confirm(question))) {
    options.output.write("Nothing recorded.\n");
    return ExitCode.failed;
  }
  const lines = newKeys.map((key) =>
    formatKnownHostsLine(endpoint.host, endpoint.port, key.keyType, key.blob),
  );
  await rewriteKnownHosts(file, { removeLines, append: lines });
  options.output.write(
    `Recorded ${newKeys.length} host key(s) for ${hostLookupName(endpoint.host, endpoint.port)} in ${file}.\n`,
  );
  if (removeLines.size > 0)
    logger.warn(`Replaced ${removeLines.size} known_hosts entries of ${target} in "${file}"`);
  return ExitCode.ok;
}

/** Reads known_hosts for trust; a missing file counts as empty (trust creates it). */
async function readExistingEntries(file: string, logger: Logger): Promise<KnownHostsEntry[]> {
  try {
    return parseKnownHosts(await readFile(file, "utf8"), { file, logger });
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return [];
    throw new BackupError(`Cannot read known_hosts file "${file}"`, { cause: error });
  }
}

/** Returns the host's trusted entries, of a type fetchHostKeys asks for, whose key the host does not offer. */
function conflictingEntries(
  entries: KnownHostsEntry[],
  endpoint: SshEndpoint,
  keys: OfferedHostKey[],
): KnownHostsEntry[] {
  const lookupName = hostLookupName(endpoint.host, endpoint.port);
  const fetchedTypes = keyTypeAttempts.flat();
  return entries.filter(
    (entry) =>
      !entry.isRevoked &&
      fetchedTypes.includes(entry.keyType) &&
      matchesHost(entry.hosts, lookupName) &&
      !keys.some((key) => key.blob.equals(entry.blob)),
  );
}

/**
 * Returns the line numbers to drop when replacing: only lines that name exactly this host. Throws
 * BackupError for a line that also covers other hosts (a list or a wildcard), which only a person should edit.
 */
function replaceableLines(conflicting: KnownHostsEntry[], endpoint: SshEndpoint, file: string): Set<number> {
  const lookupName = hostLookupName(endpoint.host, endpoint.port);
  const lines = new Set<number>();
  for (const entry of conflicting) {
    const isOnlyThisHost =
      entry.hosts.kind === "hashed" ||
      (entry.hosts.patterns.length === 1 && entry.hosts.patterns[0]?.text === lookupName);
    if (!isOnlyThisHost)
      throw new BackupError(`Cannot replace line ${entry.line} of "${file}": it also covers other hosts`, {
        hint: `edit that line by hand (it matches "${lookupName}" through a list or wildcard)`,
      });
    lines.add(entry.line);
  }
  return lines;
}
