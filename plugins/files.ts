// The `files` task: each configured path ends up in `data/` under its full source path
// (`/srv/app/conf` → `data/srv/app/conf`), so two sources with the same basename never merge.
// Symlinks stay links; device nodes, FIFOs and sockets are skipped with a warning (the server refuses
// them); files that vanish meanwhile are a warning, a missing source path an error.
// In a service that something stops (docker), the paths are copied with rsync while it is stopped.
// Otherwise the data is live anyway and the copy buys nothing: the task only lists the paths, and the
// archive step's tar reads them in place (mod/client/direct-sources.ts) — unless exclude or
// rsync_options ask for rsync's own semantics.

import { lstat, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { directReadObstacle, writeDirectSources } from "../mod/client/direct-sources.ts";
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

/** Returns why the paths must be copied now, or undefined when tar may read them at archive time. */
export function copyReason(task: FilesTask, context: Pick<TaskContext, "isQuiesced">): string | undefined {
  if (context.isQuiesced === true) return "the service is stopped while its files are copied";
  if (context.isQuiesced === undefined) return "the lifecycle does not say whether the service is stopped";
  if (task.exclude.length > 0) return "exclude patterns are rsync's";
  if (task.rsync_options.length > 0) return "rsync_options are set";
  return directReadObstacle(task.paths);
}

/** Lists the task's paths for the archive step to read in place (see the module comment). */
function listFiles(task: FilesTask, context: TaskContext): TaskReport {
  if (context.isDryRun) {
    context.logger.info(`would read ${task.paths.map((path) => `"${path}"`).join(", ")} in place into data/`);
    return { outputs: ["data"], warnings: [] };
  }
  const stagingRoot = join(context.outputDir, "..", "..");
  const listing = writeDirectSources(stagingRoot, context.service, task.paths);
  for (const warning of listing.warnings) context.logger.warn(warning);
  context.logger.debug(
    `listed ${listing.entries} entries (${listing.files} files, ${listing.bytes} bytes) to be read in place`,
  );
  return { outputs: ["data"], warnings: listing.warnings };
}

/** Puts the task's paths into `<outputDir>/data`: a copy with rsync, or a list for tar to read them in place. */
async function copyFiles(task: FilesTask, context: TaskContext): Promise<TaskReport> {
  const warnings: string[] = [];
  if (!context.isDryRun) await ensureSourcesExist(task.paths);
  const destination = join(context.outputDir, "data");
  if (!context.isDryRun) await mkdir(destination, { recursive: true, mode: 0o700 });
  const reason = copyReason(task, context);
  if (reason === undefined) return listFiles(task, context);
  context.logger.debug(`copying with rsync: ${reason}`);
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
