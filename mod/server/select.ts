// Selection of the archive to fetch from a client's directory listing (DESIGN §7.3): only names of
// the form `<host>-<YYYYMMDD_HHMMSS>.tar.(gz|zst)` that are regular files with a `.sha256` sidecar;
// timestamps further in the future than the allowed clock skew are refused. Pure: no I/O.

import { parseArchiveTimestamp } from "../lib/time.ts";
import type { RemoteEntry } from "../ssh/session.ts";

/** An archive the client offers. */
export interface RemoteArchive {
  name: string;
  sidecarName: string;
  timestamp: string;
  time: Date;
  compression: "gzip" | "zstd";
  size: number | undefined;
}

/** What selectNewestArchive found. */
export interface ArchiveSelection {
  newest?: RemoteArchive;
  /** Names that look like this host's archives but were refused, with the reason. */
  refused: { name: string; reason: string }[];
}

/** Escapes text for use inside a RegExp. */
function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Picks the newest complete archive of hostname from a listing. */
export function selectNewestArchive(
  entries: readonly RemoteEntry[],
  hostname: string,
  options: { now: Date; maxClockSkewMs: number },
): ArchiveSelection {
  const pattern = new RegExp(`^${escapeRegExp(hostname)}-(\\d{8}_\\d{6})\\.tar\\.(gz|zst)$`);
  const names = new Set(entries.filter((entry) => entry.attributes.isFile).map((entry) => entry.name));
  const refused: { name: string; reason: string }[] = [];
  let newest: RemoteArchive | undefined;
  for (const entry of entries) {
    const match = pattern.exec(entry.name);
    if (!match) continue;
    const [, timestamp = "", extension] = match;
    const time = parseArchiveTimestamp(timestamp);
    if (!entry.attributes.isFile) {
      refused.push({ name: entry.name, reason: "not a regular file" });
      continue;
    }
    if (!time) {
      refused.push({ name: entry.name, reason: "its timestamp is not a valid date" });
      continue;
    }
    if (time.getTime() > options.now.getTime() + options.maxClockSkewMs) {
      refused.push({
        name: entry.name,
        reason: `its timestamp lies in the future (${time.toISOString()}): check the client's clock`,
      });
      continue;
    }
    const sidecarName = `${entry.name}.sha256`;
    if (!names.has(sidecarName)) {
      refused.push({
        name: entry.name,
        reason: "it has no .sha256 sidecar (incomplete, or not written by backupctl)",
      });
      continue;
    }
    if (newest && newest.time.getTime() >= time.getTime()) continue;
    newest = {
      name: entry.name,
      sidecarName,
      timestamp,
      time,
      compression: extension === "zst" ? "zstd" : "gzip",
      size: entry.attributes.size,
    };
  }
  return { ...(newest ? { newest } : {}), refused };
}

/** Parses a sidecar (`<64 hex>  <name>`) and returns the checksum; undefined when malformed or naming another file. */
export function parseSidecar(text: string, archiveName: string): string | undefined {
  const match = /^([0-9a-f]{64}) [ *](\S+)\n?$/.exec(text);
  if (!match || match[2] !== archiveName) return undefined;
  return match[1];
}

/** Returns the newest archive timestamp among snapshot tags (YYYYMMDD_HHMMSS), or undefined. */
export function newestTimestampTag(snapshots: readonly { tags: readonly string[] }[]): string | undefined {
  let newest: string | undefined;
  for (const snapshot of snapshots) {
    for (const tag of snapshot.tags) {
      // the fixed-width format sorts as text in time order
      if (/^\d{8}_\d{6}$/.test(tag) && (newest === undefined || tag > newest)) newest = tag;
    }
  }
  return newest;
}
