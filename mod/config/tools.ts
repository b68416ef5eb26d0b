// The external programs backupctl runs, as configured in `tools:` (common_config.yml, client_config.yml,
// server_config.yml `global.tools`). Each is a command: a program, optionally with leading arguments.

import { z } from "zod";
import { commandLine } from "./fields.ts";

/** Default command of every tool, by key. */
export const toolDefaults = {
  tar_cmd: ["tar"],
  gzip_cmd: ["gzip"],
  pigz_cmd: ["pigz"],
  zstd_cmd: ["zstd"],
  rsync_cmd: ["rsync"],
  pg_dump_cmd: ["pg_dump"],
  pg_dumpall_cmd: ["pg_dumpall"],
  mariadb_dump_cmd: ["mariadb-dump"],
  mysqldump_cmd: ["mysqldump"],
  sqlite3_cmd: ["sqlite3"],
  docker_cli_cmd: ["docker"],
  docker_cmd: ["docker", "compose"],
  restic_cmd: ["restic"],
  influx_cmd: ["influx"],
} as const;

/** Builds the command field of one tool with its default and description. */
function tool(key: keyof typeof toolDefaults, description: string) {
  return commandLine()
    .default([...toolDefaults[key]])
    .describe(`${description} (default: ${toolDefaults[key].join(" ")})`);
}

/** The `tools:` block; every key is optional and defaults to the program found on PATH. */
export const toolsSchema = z.strictObject({
  tar_cmd: tool("tar_cmd", "GNU tar, for archives"),
  gzip_cmd: tool("gzip_cmd", "gzip, used for .tar.gz when pigz is not installed"),
  pigz_cmd: tool("pigz_cmd", "pigz, parallel gzip, preferred for .tar.gz when installed"),
  zstd_cmd: tool("zstd_cmd", "zstd, for .tar.zst archives"),
  rsync_cmd: tool("rsync_cmd", "rsync, for files tasks"),
  pg_dump_cmd: tool("pg_dump_cmd", "pg_dump, for postgresql tasks with one database"),
  pg_dumpall_cmd: tool("pg_dumpall_cmd", "pg_dumpall, for postgresql tasks with database: all"),
  mariadb_dump_cmd: tool("mariadb_dump_cmd", "mariadb-dump, preferred for mariadb and mysql tasks"),
  mysqldump_cmd: tool("mysqldump_cmd", "mysqldump, used when mariadb-dump is not installed"),
  sqlite3_cmd: tool("sqlite3_cmd", "the sqlite3 shell, for sqlite tasks"),
  docker_cli_cmd: tool("docker_cli_cmd", "the docker CLI, for image digests when pinning images"),
  docker_cmd: tool("docker_cmd", "the compose command: `docker compose` or `docker-compose`"),
  restic_cmd: tool("restic_cmd", "restic"),
  influx_cmd: tool("influx_cmd", "the influx CLI, for influxdb tasks"),
});

export type ToolsInput = z.input<typeof toolsSchema>;
export type Tools = z.output<typeof toolsSchema>;
