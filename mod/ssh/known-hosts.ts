// Strict host-key verification for the SFTP pull: an OpenSSH known_hosts parser and matcher, written
// by hand because no maintained library exists (DESIGN §2). Matching follows OpenSSH's hostfile.c: a
// host is looked up as "host" on port 22 and as "[host]:port" otherwise, case-insensitively.

import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { BackupError, errnoCode, errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";

/** One usable line of a known_hosts file. `@cert-authority` lines are never returned. */
export interface KnownHostsEntry {
  file: string;
  line: number;
  isRevoked: boolean;
  hosts: HostMatcher;
  keyType: string;
  /** The SSH wire-format public key blob, as in the base64 field. */
  blob: Buffer;
}

/** The host field of a line: a hashed name, or a comma list of patterns. */
export type HostMatcher =
  | { kind: "hashed"; salt: Buffer; hash: Buffer }
  | { kind: "patterns"; patterns: HostPattern[] };

/** One pattern of a comma list; `!` in front negates it. */
export interface HostPattern {
  text: string;
  isNegated: boolean;
  expression: RegExp;
}

/** What a known_hosts file says about a presented host key. */
export type HostKeyVerdict = "trusted" | "mismatch" | "revoked" | "unknown";

/** The outcome of checkHostKey, with what an operator needs to act on it. */
export interface HostKeyCheck {
  verdict: HostKeyVerdict;
  fingerprint: string;
  keyType: string;
  /** Key types of the host's trusted (not revoked) entries, in file order. */
  knownTypes: string[];
}

/** The presented key and where it was presented. */
export interface HostKeyQuery {
  host: string;
  port: number;
  key: Buffer;
}

const hashedHostExpression = /^\|1\|([A-Za-z0-9+/]+={0,2})\|([A-Za-z0-9+/]+={0,2})$/;
const base64Expression = /^[A-Za-z0-9+/]+={0,2}$/;
const sha1Length = 20;

/** Returns the name OpenSSH looks a host up under: "host" on port 22, "[host]:port" otherwise. */
export function hostLookupName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/** Returns the OpenSSH SHA256 fingerprint of a public key blob ("SHA256:" + base64 without padding). */
export function sha256Fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Returns the key type named inside a wire-format public key blob, or undefined when it is malformed. */
export function keyTypeOfBlob(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > blob.length) return undefined;
  const type = blob.toString("latin1", 4, 4 + length);
  return /^[A-Za-z0-9@._+-]+$/.test(type) ? type : undefined;
}

/** Returns a plain known_hosts line for a key, in the form OpenSSH looks the host up under. */
export function formatKnownHostsLine(host: string, port: number, keyType: string, blob: Buffer): string {
  return `${hostLookupName(host, port)} ${keyType} ${blob.toString("base64")}`;
}

/** Returns the hashed host field (`|1|salt|hmac`) of a host, as `ssh-keygen -H` writes it. */
export function hashHostName(host: string, port: number, salt: Buffer): string {
  const hash = createHmac("sha1", salt).update(hostLookupName(host, port)).digest();
  return `|1|${salt.toString("base64")}|${hash.toString("base64")}`;
}

/**
 * Reads and parses a known_hosts file; malformed lines are skipped with a warning.
 * Throws BackupError when the file is missing, unreadable, or writable by group or others.
 */
export async function readKnownHosts(path: string, logger: Logger): Promise<KnownHostsEntry[]> {
  let text: string;
  try {
    const info = await stat(path);
    // whoever can write this file can make the pull trust any server
    if ((info.mode & 0o022) !== 0) {
      const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
      throw new BackupError(
        `Cannot trust known_hosts file "${path}": mode ${mode} lets other users change it`,
        {
          hint: `run chmod go-w "${path}"`,
        },
      );
    }
    text = await readFile(path, "utf8");
  } catch (error) {
    if (error instanceof BackupError) throw error;
    if (errnoCode(error) === "ENOENT")
      throw new BackupError(`Cannot verify host keys: known_hosts file "${path}" does not exist`, {
        hint: "record each host's key with `backupctl server trust HOST` (host keys are never trusted on first use)",
        cause: error,
      });
    throw new BackupError(`Cannot read known_hosts file "${path}": ${errorMessage(error)}`, { cause: error });
  }
  return parseKnownHosts(text, { file: path, logger });
}

/** Parses known_hosts text. Malformed lines are skipped with a warning naming file:line. */
export function parseKnownHosts(text: string, options: { file: string; logger: Logger }): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  const lines = text.split("\n");
  for (const [index, rawLine] of lines.entries()) {
    const where = `${options.file}:${index + 1}`;
    const line = rawLine.replace(/\r$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const parsed = parseLine(line);
    if (typeof parsed === "string") {
      options.logger.warn(`Skipping malformed known_hosts line ${where}: ${parsed}`);
      continue;
    }
    if (parsed.marker === "cert-authority") {
      // certificate host keys are not supported: such a line must never count as trust
      options.logger.debug(`Ignoring known_hosts line ${where}: @cert-authority entries are not supported`);
      continue;
    }
    entries.push({
      file: options.file,
      line: index + 1,
      isRevoked: parsed.marker === "revoked",
      ...parsed.entry,
    });
  }
  return entries;
}

type ParsedLine = {
  marker: "revoked" | "cert-authority" | undefined;
  entry: Pick<KnownHostsEntry, "hosts" | "keyType" | "blob">;
};

/** Parses one non-blank, non-comment line, or returns why it is malformed. */
function parseLine(line: string): ParsedLine | string {
  const fields = line.split(/[ \t]+/);
  let marker: ParsedLine["marker"];
  if (fields[0]?.startsWith("@")) {
    const name = fields.shift();
    if (name === "@revoked") marker = "revoked";
    else if (name === "@cert-authority") marker = "cert-authority";
    else return `unknown marker "${name}"`;
  }
  const [hostField, keyType, keyText] = fields;
  if (hostField === undefined || keyType === undefined || keyText === undefined)
    return "expected host patterns, key type and base64 key";
  if (/^\d+$/.test(keyType)) return "SSH protocol 1 keys are not supported";
  if (!base64Expression.test(keyText)) return "the key is not valid base64";
  const blob = Buffer.from(keyText, "base64");
  const blobType = keyTypeOfBlob(blob);
  if (blobType === undefined) return "the key is not an SSH public key";
  if (blobType !== keyType) return `key type "${keyType}" does not match the key, which is "${blobType}"`;
  const hosts = parseHostField(hostField);
  if (typeof hosts === "string") return hosts;
  return { marker, entry: { hosts, keyType, blob } };
}

/** Parses the host field: `|1|salt|hmac` or a comma list of patterns. */
function parseHostField(field: string): HostMatcher | string {
  if (field.startsWith("|")) {
    const match = hashedHostExpression.exec(field);
    if (!match) return "hashed host field is not |1|salt|hash";
    const salt = Buffer.from(match[1] ?? "", "base64");
    const hash = Buffer.from(match[2] ?? "", "base64");
    if (salt.length !== sha1Length || hash.length !== sha1Length)
      return "hashed host field has a salt or hash of the wrong length";
    return { kind: "hashed", salt, hash };
  }
  const patterns: HostPattern[] = [];
  for (const item of field.toLowerCase().split(",")) {
    if (item === "" || item === "!") continue;
    const isNegated = item.startsWith("!");
    const text = isNegated ? item.slice(1) : item;
    patterns.push({ text, isNegated, expression: globExpression(text) });
  }
  if (patterns.length === 0) return "no host patterns";
  return { kind: "patterns", patterns };
}

/** Compiles an OpenSSH pattern, where only `*` and `?` are special, into an anchored expression. */
function globExpression(pattern: string): RegExp {
  const source = pattern
    .split("")
    .map((character) => {
      if (character === "*") return ".*";
      if (character === "?") return ".";
      return character.replace(/[\\^$.|+()[\]{}]/g, "\\$&");
    })
    .join("");
  return new RegExp(`^${source}$`, "s");
}

/** Returns whether a host field matches a lookup name; a matching negated pattern always wins. */
export function matchesHost(hosts: HostMatcher, lookupName: string): boolean {
  if (hosts.kind === "hashed") {
    const hash = createHmac("sha1", hosts.salt).update(lookupName).digest();
    return timingSafeEqual(hash, hosts.hash);
  }
  let isMatched = false;
  for (const pattern of hosts.patterns) {
    if (!pattern.expression.test(lookupName)) continue;
    if (pattern.isNegated) return false;
    isMatched = true;
  }
  return isMatched;
}

/** Returns the key types of a host's trusted (not revoked) entries, in file order, without repeats. */
export function knownKeyTypes(entries: KnownHostsEntry[], host: string, port: number): string[] {
  const lookupName = hostLookupName(host, port);
  const types = entries.filter((entry) => !entry.isRevoked && matchesHost(entry.hosts, lookupName));
  return [...new Set(types.map((entry) => entry.keyType))];
}

/**
 * Judges a presented host key: revoked wins over everything, then an entry with the same key means
 * trusted; a host with entries but none for this key is a mismatch; no entries at all is unknown.
 */
export function checkHostKey(entries: KnownHostsEntry[], query: HostKeyQuery): HostKeyCheck {
  const lookupName = hostLookupName(query.host, query.port);
  const matching = entries.filter((entry) => matchesHost(entry.hosts, lookupName));
  const trustedEntries = matching.filter((entry) => !entry.isRevoked);
  const result = {
    fingerprint: sha256Fingerprint(query.key),
    keyType: keyTypeOfBlob(query.key) ?? "unknown",
    knownTypes: [...new Set(trustedEntries.map((entry) => entry.keyType))],
  };
  // the blob starts with its type, so equal blobs mean equal type and key
  if (matching.some((entry) => entry.isRevoked && entry.blob.equals(query.key)))
    return { verdict: "revoked", ...result };
  if (trustedEntries.some((entry) => entry.blob.equals(query.key))) return { verdict: "trusted", ...result };
  if (trustedEntries.length > 0) return { verdict: "mismatch", ...result };
  return { verdict: "unknown", ...result };
}
