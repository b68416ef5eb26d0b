// Schema of a `mariadb:` or `mysql:` task block: one mariadb-dump (or mysqldump) while the stack runs.

import { z } from "zod";
import { databaseConnectionShape } from "./database.ts";

/** `mariadb:` and `mysql:` */
export const mariadbTaskSchema = z.strictObject({
  ...databaseConnectionShape({ username: "root", port: 3306 }),
  single_transaction: z
    .boolean()
    .default(true)
    .describe("dump InnoDB tables in one consistent transaction without locking (default: true)"),
});

export type MariadbTaskInput = z.input<typeof mariadbTaskSchema>;
export type MariadbTask = z.output<typeof mariadbTaskSchema>;
