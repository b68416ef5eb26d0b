// The `files` task: copies each configured path with rsync into `data/`, keeping the full source
// path (`/srv/app/conf` → `data/srv/app/conf`) so two sources with the same basename never merge.
// Symlinks stay links; device nodes, FIFOs and sockets are skipped with a warning (the server refuses
// them); files that vanish during the copy are a warning, a missing source path an error.

import { lstat, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type FilesTask, filesTaskSchema } from "../mod/config/tasks/files.ts";
import { BackupError, errnoCode } from "../mod/lib/errors.ts";
import type { TaskContext, TaskPlugin, TaskReport } from "./types.ts";

const rsyncVanishedFiles = 24; // "some files vanished before they could be transferred"

/** Returns the rsync argv that copies paths into destination with full paths kept. */
export function rsyncArgv(rsync: string[], task: FilesTask, destination: string): string[] {
  return [
    ...rsync,
    "--archive",
    "--hard-links",
    "--relative",
    "--numeric-ids",
    "--no-devices",
    "--no-specials",
    ...task.exclude.map((pattern) => `--exclude=${pattern}`),
    ...task.rsync_options,
    "--",
    ...task.paths,
    `${destination}/`,
  ];
}

/** Throws BackupError naming every configured path that does not exist. */
async function ensureSourcesExist(paths: string[]): Promise<void> {
  const missing: string[] = [];
  for (const path of paths) {
    try {
      await lstat(path);
    } catch (error) {
      if (errnoCode(error) === "ENOENT") missing.push(path);
      else throw error;
    }
  }
  if (missing.length > 0) {
    throw new BackupError(
      `Source path${missing.length > 1 ? "s" : ""} not found: ${missing.map((path) => `"${path}"`).join(", ")}`,
      {
        hint: "fix files.paths in the service file, or create the path",
      },
    );
  }
}

/** Copies the task's paths into `<outputDir>/data`. */
async function copyFiles(task: FilesTask, context: TaskContext): Promise<TaskReport> {
  const warnings: string[] = [];
  if (!context.isDryRun) await ensureSourcesExist(task.paths);
  const destination = join(context.outputDir, "data");
  if (!context.isDryRun) await mkdir(destination, { recursive: true, mode: 0o700 });
  const result = await context.run(rsyncArgv(context.tools.rsync_cmd, task, destination), {
    okExitCodes: [0, rsyncVanishedFiles],
    description: "copy files",
    stdout: (line) => {
      if (line.startsWith("skipping non-regular file")) {
        warnings.push(`${line} (device nodes, FIFOs and sockets are not backed up)`);
        context.logger.warn(line);
      } else if (line.trim() !== "") context.logger.debug(line);
    },
  });
  if (result.exitCode === rsyncVanishedFiles) {
    const warning = "some files vanished while they were copied (rsync exit 24); the rest was copied";
    warnings.push(warning);
    context.logger.warn(warning);
  }
  return { outputs: ["data"], warnings };
}

/** The files plugin. */
export const filesPlugin: TaskPlugin<FilesTask> = {
  key: "files",
  schema: filesTaskSchema,
  requiredTools: (_task, tools) => [tools.rsync_cmd[0] ?? "rsync"],
  copy: copyFiles,
};
