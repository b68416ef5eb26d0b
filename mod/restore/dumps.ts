// After a restore: find the database dumps in each restored service (`<type>/<name>/databases/`,
// `influxdb/`), tell their format from their first bytes (not from the manifest, so an archive of an
// older version or a renamed file still gets the right advice), and word the command that loads each.

import { open, readdir, readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { quoteArgument } from "../lib/exec.ts";

/** What a dump file is. */
export type DumpKind =
  | "postgresql-plain"
  | "postgresql-cluster"
  | "postgresql-custom"
  | "mariadb"
  | "sqlite"
  | "influxdb"
  | "unknown";

/** A dump found in the restored tree, with the command that loads it. */
export interface DatabaseDump {
  /** `type/name` of the service. */
  service: string;
  /** Absolute path of the file (or directory, for influxdb). */
  path: string;
  kind: DumpKind;
  /** The database the file name stands for (dumps are named `<database>.sql`). */
  database?: string;
  /** What to run, shell-quoted for copying; connection options as for the dump tool. */
  command: string;
  /** A sentence on what to mind. */
  note?: string;
}

const kindWords: Record<DumpKind, string> = {
  "postgresql-plain": "PostgreSQL dump (plain SQL)",
  "postgresql-cluster": "PostgreSQL cluster dump (pg_dumpall)",
  "postgresql-custom": "PostgreSQL dump (custom format)",
  mariadb: "MariaDB/MySQL dump",
  sqlite: "SQLite database",
  influxdb: "InfluxDB backup",
  unknown: "unknown format",
};

/** Returns how people read a dump kind. */
export function describeDumpKind(kind: DumpKind): string {
  return kindWords[kind];
}

/** Returns the kind of a dump from its first bytes. */
export function classifyDump(head: Uint8Array): DumpKind {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(head);
  if (text.startsWith("PGDMP")) return "postgresql-custom";
  if (text.startsWith("SQLite format 3\u0000")) return "sqlite";
  if (/^--\s*\n?--\s*PostgreSQL database cluster dump/m.test(text)) return "postgresql-cluster";
  if (/^--\s*PostgreSQL database dump/m.test(text)) return "postgresql-plain";
  if (/^--\s*(MariaDB|MySQL) dump/m.test(text)) return "mariadb";
  return "unknown";
}

/** Returns the database a dump's file name stands for: `<name>.sql` with the %XX escapes of safeFileName undone. */
export function databaseOfFile(fileName: string): string {
  const stem = fileName.replace(/\.(sql|dump)$/, "");
  try {
    return decodeURIComponent(stem);
  } catch {
    return stem;
  }
}

/** Returns the load command and a note for one dump. `originalPath` is where an SQLite file belongs, when known. */
export function loadCommand(
  kind: DumpKind,
  path: string,
  options: { database?: string; originalPath?: string } = {},
): { command: string; note?: string } {
  const file = quoteArgument(path);
  const database = quoteArgument(options.database ?? "DATABASE");
  switch (kind) {
    case "postgresql-plain":
      return {
        command: `createdb ${database} && psql --set=ON_ERROR_STOP=1 --dbname=${database} --file=${file}`,
        note: "add --host, --port and --username as for pg_dump; load into a new, empty database",
      };
    case "postgresql-cluster":
      return {
        command: `psql --dbname=postgres --file=${file}`,
        note: "recreates every role and database; errors for roles that exist already are expected",
      };
    case "postgresql-custom":
      return {
        command: `createdb ${database} && pg_restore --dbname=${database} ${file}`,
        note: "add --host, --port and --username as for pg_dump; load into a new, empty database",
      };
    case "mariadb":
      return {
        command: `mariadb < ${file}`,
        note: "the dump creates its database(s) itself; add --host, --port and --user as for mariadb-dump",
      };
    case "sqlite":
      return {
        command: `cp --preserve=mode ${file} ${quoteArgument(options.originalPath ?? "/path/to/the/application.db")}`,
        note: "stop the application first, and remove its -wal and -shm files",
      };
    case "influxdb":
      return { command: `influx restore ${file}`, note: "add --host and --token as for influx backup" };
    default:
      return { command: `less ${file}`, note: "backupctl does not know this format: look at the file" };
  }
}

/** Finds the dumps of the restored services under target (`<type>/<name>/databases/*`, `<type>/<name>/influxdb/`). */
export async function findDumps(
  target: string,
  services: readonly { type: string; name: string }[],
): Promise<DatabaseDump[]> {
  const dumps: DatabaseDump[] = [];
  for (const service of services) {
    const serviceDir = join(target, service.type, service.name);
    const label = `${service.type}/${service.name}`;
    const sqlitePaths = await configuredSqlitePaths(serviceDir);
    for (const name of (await listDirectory(join(serviceDir, "databases"))).sort()) {
      const path = join(serviceDir, "databases", name);
      if (!(await stat(path).catch(() => undefined))?.isFile()) continue;
      const kind = classifyDump(await readHead(path));
      const database = kind === "sqlite" || kind === "unknown" ? undefined : databaseOfFile(name);
      const originalPath = sqlitePaths.find((candidate) => basename(candidate) === name);
      dumps.push({
        service: label,
        path,
        kind,
        ...(database && kind !== "mariadb" && kind !== "postgresql-cluster" ? { database } : {}),
        ...loadCommand(kind, path, {
          ...(database ? { database } : {}),
          ...(originalPath ? { originalPath } : {}),
        }),
      });
    }
    const influx = join(serviceDir, "influxdb");
    if ((await stat(influx).catch(() => undefined))?.isDirectory()) {
      dumps.push({ service: label, path: influx, kind: "influxdb", ...loadCommand("influxdb", influx) });
    }
  }
  return dumps;
}

/** Returns the sqlite.path values of the service file the client used (config_used/), if it is there. */
async function configuredSqlitePaths(serviceDir: string): Promise<string[]> {
  const paths: string[] = [];
  for (const name of await listDirectory(join(serviceDir, "config_used"))) {
    if (!/\.ya?ml$/.test(name)) continue;
    try {
      const document = parseYaml(await readFile(join(serviceDir, "config_used", name), "utf8")) as {
        sqlite?: { path?: unknown };
      };
      if (typeof document?.sqlite?.path === "string") paths.push(document.sqlite.path);
    } catch {
      // an unreadable copy only costs the advice its exact path
    }
  }
  return paths;
}

/** Returns the names in a directory, or none when it does not exist. */
async function listDirectory(directory: string): Promise<string[]> {
  return await readdir(directory).catch(() => []);
}

/** Returns the first 4 KiB of a file. */
async function readHead(path: string): Promise<Uint8Array> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
