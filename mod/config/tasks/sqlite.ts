// Schema of a `sqlite:` task block: an online .backup copy of one database file.

import { z } from "zod";
import { absolutePath } from "../fields.ts";

/** `sqlite:` */
export const sqliteTaskSchema = z.strictObject({
  path: absolutePath().describe("the database file (required)"),
});

export type SqliteTaskInput = z.input<typeof sqliteTaskSchema>;
export type SqliteTask = z.output<typeof sqliteTaskSchema>;
