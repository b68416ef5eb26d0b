// Schema of a `files:` task block: file trees copied with rsync into data/, each under its full path.

import { z } from "zod";
import { absolutePath, expecting, optionList } from "../fields.ts";

/** A list, or one item written on its own. */
function listOf<T extends z.ZodType>(item: T, description: string) {
  return z
    .union([item, z.array(item)], { error: expecting(description) })
    .transform((value) => (Array.isArray(value) ? value : [value]) as z.output<T>[]);
}

/** `files:` */
export const filesTaskSchema = z.strictObject({
  paths: listOf(absolutePath(), "an absolute path or a list of them")
    .refine((paths) => paths.length > 0, { message: "must list at least 1 path" })
    .describe("files and directories to copy, each kept under its full path in data/ (required)"),
  exclude: listOf(z.string().min(1), "a pattern or a list of patterns")
    .default([])
    .describe("rsync exclude patterns, applied to every path (default: none)"),
  rsync_options: optionList()
    .default([])
    .describe("extra rsync options: a list, or a string split like a shell does (default: none)"),
});

export type FilesTaskInput = z.input<typeof filesTaskSchema>;
export type FilesTask = z.output<typeof filesTaskSchema>;
