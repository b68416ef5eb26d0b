// The original's other key names, accepted so an existing installation keeps working: each is moved
// to its new key before validation (keeping its file position for messages) with a deprecation warning.

import { type ConfigDocument, isMapping, issueAt, pathKey, valueAt } from "./document.ts";
import { type ConfigIssue, formatKeyPath } from "./issues.ts";

/** A key path pattern; "*" stands for every index of a list. */
type KeyPattern = readonly string[];

/** One old key name: moved to `to`, or dropped when it has no replacement any more. */
export interface KeyAlias {
  from: KeyPattern;
  to?: KeyPattern;
  /** Why an old key with no replacement is not needed any more. */
  reason?: string;
  /** Rewrites the old value for the new key; undefined drops it. */
  convert?: (value: unknown) => unknown;
}

/** Maps the original's msmtp command to a sendmail-compatible program path. */
function msmtpToSendmailPath(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const program = value.trim().split(/\s+/)[0] ?? "";
  return program.startsWith("/") ? program : `/usr/bin/${program}`;
}

/** Maps the original's check_read_data_mode (true, false or a subset) to read_data_subset. */
function readDataModeToSubset(value: unknown): unknown {
  if (value === true || value === "true") return "1/1";
  if (value === false || value === "false" || value === "") return undefined;
  return value;
}

const toolAliases: KeyAlias[] = [
  { from: ["tools", "yq_cmd"], reason: "backupctl reads YAML itself" },
  { from: ["tools", "jq_cmd"], reason: "backupctl reads JSON itself" },
  { from: ["tools", "msmtp_cmd"], to: ["mail", "sendmail_path"], convert: msmtpToSendmailPath },
  { from: ["tools", "ssh_cmd"], reason: "backupctl speaks SSH itself" },
  { from: ["tools", "scp_cmd"], reason: "backupctl fetches archives over SFTP itself" },
];

/** Old keys of common_config.yml. */
export const commonAliases: readonly KeyAlias[] = toolAliases;

/** Old keys of client_config.yml. */
export const clientAliases: readonly KeyAlias[] = toolAliases;

/** Old keys of server_config.yml (its code read some keys at the top level that its README put under global). */
export const serverAliases: readonly KeyAlias[] = [
  { from: ["email_subject_prefix"], to: ["global", "email_subject_prefix"] },
  { from: ["hostname"], to: ["global", "hostname"] },
  { from: ["global", "msmtp_cmd"], to: ["global", "mail", "sendmail_path"], convert: msmtpToSendmailPath },
  { from: ["global", "yq_cmd"], reason: "backupctl reads YAML itself" },
  { from: ["global", "jq_cmd"], reason: "backupctl reads JSON itself" },
  ...toolAliases.map((alias) => ({
    ...alias,
    from: ["global", ...alias.from],
    to: alias.to && ["global", ...alias.to],
  })),
  { from: ["restic", "maintenance", "forget_policy"], to: ["restic", "maintenance", "forget_options"] },
  {
    from: ["restic", "maintenance", "check_read_data_mode"],
    to: ["restic", "maintenance", "read_data_subset"],
    convert: readDataModeToSubset,
  },
  { from: ["restic", "maintenance", "log_level"], reason: "set global.log_level or pass --log-level" },
  { from: ["hosts", "*", "restic_forget_policy"], to: ["hosts", "*", "maintenance", "forget_options"] },
];

/** Old keys inside task blocks of service files (the original's code used them, its README did not). */
export const taskAliases: Readonly<Record<string, readonly KeyAlias[]>> = {
  docker: [
    { from: ["docker_compose_path"], to: ["compose_file"] },
    { from: ["pin_images_to_digest"], to: ["pin_images"] },
  ],
  postgresql: [
    { from: ["user"], to: ["username"] },
    { from: ["host"], to: ["hostname"] },
  ],
  mariadb: [
    { from: ["user"], to: ["username"] },
    { from: ["host"], to: ["hostname"] },
  ],
  mysql: [
    { from: ["user"], to: ["username"] },
    { from: ["host"], to: ["hostname"] },
  ],
};

/** Returns every concrete path matching a pattern whose last key is present, with the list indexes matched. */
function matchPattern(
  root: unknown,
  pattern: KeyPattern,
): { path: (string | number)[]; indexes: number[] }[] {
  const matches: { path: (string | number)[]; indexes: number[] }[] = [];
  /** Walks one segment further. */
  function walk(value: unknown, depth: number, path: (string | number)[], indexes: number[]): void {
    const segment = pattern[depth] as string;
    const isLast = depth === pattern.length - 1;
    if (segment === "*") {
      if (!Array.isArray(value)) return;
      value.forEach((item, index) => {
        walk(item, depth + 1, [...path, index], [...indexes, index]);
      });
      return;
    }
    if (!isMapping(value) || !(segment in value)) return;
    if (isLast) matches.push({ path: [...path, segment], indexes });
    else walk(value[segment], depth + 1, [...path, segment], indexes);
  }
  if (pattern.length > 0) walk(root, 0, [], []);
  return matches;
}

/** Returns a pattern with its "*" replaced by matched indexes, in order. */
function fillPattern(pattern: KeyPattern, indexes: number[]): (string | number)[] {
  let next = 0;
  return pattern.map((segment) => (segment === "*" ? (indexes[next++] ?? 0) : segment));
}

/** Names the new key the way a reader finds it: its last part when it stays beside the old key. */
function newKeyName(from: (string | number)[], to: (string | number)[]): string {
  const sameParent =
    from.length === to.length && from.slice(0, -1).every((segment, index) => segment === to[index]);
  return sameParent ? String(to[to.length - 1]) : formatKeyPath(to);
}

/** Rewrites old key names in a document's value (under an optional prefix), returning the warnings. */
export function applyAliases(
  document: ConfigDocument,
  aliases: readonly KeyAlias[],
  prefix: (string | number)[] = [],
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const root = prefix.length === 0 ? document.value : valueAt(document.value, prefix);
  for (const alias of aliases) {
    for (const match of matchPattern(root, alias.from)) {
      const from = [...prefix, ...match.path];
      const parent = valueAt(document.value, from.slice(0, -1)) as Record<string, unknown>;
      const oldKey = String(from[from.length - 1]);
      const value = parent[oldKey];
      delete parent[oldKey];
      if (!alias.to) {
        issues.push(
          issueAt(document, from, {
            severity: "warning",
            message: `"${oldKey}" is no longer used and is ignored: ${alias.reason ?? "it has no effect"}`,
            hint: `remove "${oldKey}"`,
            atKey: true,
          }),
        );
        continue;
      }
      const to = [...prefix, ...fillPattern(alias.to, match.indexes)];
      const newName = newKeyName(from, to);
      const target = ensureParent(document, to, from);
      const newKey = String(to[to.length - 1]);
      if (!target) {
        issues.push(
          issueAt(document, from, {
            message: `"${oldKey}" is a deprecated name for "${newName}", which cannot be set here`,
            atKey: true,
          }),
        );
        continue;
      }
      if (newKey in target) {
        issues.push(
          issueAt(document, from, {
            message: `both "${oldKey}" and its new name "${newName}" are set`,
            hint: `remove "${oldKey}"`,
            atKey: true,
          }),
        );
        continue;
      }
      const converted = alias.convert ? alias.convert(value) : value;
      if (converted !== undefined) target[newKey] = converted;
      moveLocations(document, from, to);
      issues.push(
        issueAt(document, from, {
          severity: "warning",
          message: `"${oldKey}" is a deprecated name: use "${newName}"`,
          hint: `rename "${oldKey}" to "${newName}"`,
          atKey: true,
        }),
      );
    }
  }
  return issues;
}

/** Returns the mapping that holds the new key, creating missing mappings at the old key's position. */
function ensureParent(
  document: ConfigDocument,
  to: (string | number)[],
  from: (string | number)[],
): Record<string, unknown> | undefined {
  let current = document.value;
  const fromLocation = document.locations.get(pathKey(from));
  for (let depth = 0; depth < to.length - 1; depth++) {
    const segment = to[depth] as string | number;
    if (Array.isArray(current) && typeof segment === "number") {
      current = current[segment];
      continue;
    }
    if (!isMapping(current)) return undefined;
    if (current[segment] === undefined) {
      current[segment] = {};
      const key = pathKey(to.slice(0, depth + 1));
      if (fromLocation && !document.locations.has(key)) document.locations.set(key, fromLocation);
    }
    current = current[segment];
  }
  return isMapping(current) ? current : undefined;
}

/** Copies the recorded positions under the old path to the new path, so messages point at the old key. */
function moveLocations(document: ConfigDocument, from: (string | number)[], to: (string | number)[]): void {
  const fromKey = pathKey(from);
  const fromPrefix = fromKey.slice(0, -1);
  for (const [key, location] of [...document.locations]) {
    if (key === fromKey) document.locations.set(pathKey(to), location);
    else if (key.startsWith(`${fromPrefix},`)) {
      const rest = JSON.parse(key).slice(from.length) as (string | number)[];
      document.locations.set(pathKey([...to, ...rest]), location);
    }
  }
}
