// Schema of a `postgresql:` task block: one pg_dump (or pg_dumpall for "all") while the stack runs.

import { z } from "zod";
import { databaseConnectionShape } from "./database.ts";

/** `postgresql:` */
export const postgresqlTaskSchema = z.strictObject({
  ...databaseConnectionShape({ username: "postgres", port: 5432 }),
  format: z
    .enum(["plain", "custom"])
    .default("plain")
    .describe("plain SQL (deduplicates well in restic) or pg_dump's custom format (default: plain)"),
});

export type PostgresqlTaskInput = z.input<typeof postgresqlTaskSchema>;
export type PostgresqlTask = z.output<typeof postgresqlTaskSchema>;
