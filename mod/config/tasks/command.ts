// Schema of a `command:` task block: any program, for tools without a plugin. Its stdout becomes a
// named file, or it writes into the output directory given in BACKUPCTL_OUTPUT_DIR.

import { z } from "zod";
import { commandLine, duration, safeName } from "../fields.ts";

/** `command:` */
export const commandTaskSchema = z.strictObject({
  argv: commandLine().describe(
    "the program and its arguments: a list, or a string split like a shell does (required)",
  ),
  output: safeName()
    .optional()
    .describe("file name for the program's stdout (default: none; it writes into $BACKUPCTL_OUTPUT_DIR)"),
  timeout: duration()
    .default(60 * 60 * 1000)
    .describe("the program is ended after this long (default: 1h)"),
});

export type CommandTaskInput = z.input<typeof commandTaskSchema>;
export type CommandTask = z.output<typeof commandTaskSchema>;
