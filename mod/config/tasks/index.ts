// The schemas of every built-in task block, by task key, for the service loader and the plugin
// registry (plugins/registry.ts reuses them so each plugin validates with exactly this schema).

import type { z } from "zod";
import { commandTaskSchema } from "./command.ts";
import { dockerTaskSchema } from "./docker.ts";
import { filesTaskSchema } from "./files.ts";
import { influxdbTaskSchema } from "./influxdb.ts";
import { mariadbTaskSchema } from "./mariadb.ts";
import { postgresqlTaskSchema } from "./postgresql.ts";
import { sqliteTaskSchema } from "./sqlite.ts";

/** Built-in task schemas by task key; `mysql` is another key for the mariadb task. */
export const builtinTaskSchemas = {
  docker: dockerTaskSchema,
  postgresql: postgresqlTaskSchema,
  mariadb: mariadbTaskSchema,
  mysql: mariadbTaskSchema,
  files: filesTaskSchema,
  sqlite: sqliteTaskSchema,
  influxdb: influxdbTaskSchema,
  command: commandTaskSchema,
} as const;

export type BuiltinTaskKey = keyof typeof builtinTaskSchemas;

/** The validated block of each built-in task key. */
export type BuiltinTaskConfigs = { [Key in BuiltinTaskKey]: z.output<(typeof builtinTaskSchemas)[Key]> };

/** What users write in each built-in task block. */
export type BuiltinTaskInputs = { [Key in BuiltinTaskKey]: z.input<(typeof builtinTaskSchemas)[Key]> };

/** Returns whether a task key names a built-in task. */
export function isBuiltinTaskKey(key: string): key is BuiltinTaskKey {
  return Object.hasOwn(builtinTaskSchemas, key);
}

export type { CommandTask } from "./command.ts";
export type { DockerTask } from "./docker.ts";
export type { FilesTask } from "./files.ts";
export type { InfluxdbTask } from "./influxdb.ts";
export type { MariadbTask } from "./mariadb.ts";
export type { PostgresqlTask } from "./postgresql.ts";
export type { SqliteTask } from "./sqlite.ts";
