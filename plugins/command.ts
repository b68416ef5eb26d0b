// The `command` task, for tools without a plugin: runs an argv while the stack runs. With `output: NAME`
// its stdout becomes `commands/NAME`; otherwise it writes files into `commands/`, the directory named in
// its environment as BACKUPCTL_OUTPUT_DIR. A non-zero exit fails the task and removes its output.

import { mkdir, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { type CommandTask, commandTaskSchema } from "../mod/config/tasks/command.ts";
import { BackupError } from "../mod/lib/errors.ts";
import { nameProblem } from "../mod/lib/names.ts";
import { removePartialOutput } from "./dump-output.ts";
import type { TaskContext, TaskPlugin, TaskReport } from "./types.ts";

/** The command's output directory relative to the staging dir; a service file holds at most one command block. */
export const commandOutputDirectory = "commands";

/** Returns what the task writes, relative to the staging dir: `commands/NAME` with output, else `commands`. Throws BackupError when output is not a safe file name. */
export function commandOutputPath(task: Pick<CommandTask, "output">): string {
  if (task.output === undefined) return commandOutputDirectory;
  const problem = nameProblem(task.output);
  if (problem)
    throw new BackupError(`Cannot use command.output "${task.output}" as a file name: ${problem}`, {
      code: "usage",
    });
  return join(commandOutputDirectory, task.output);
}

/** Returns the environment the command gets: where to write, and which service it runs for. */
export function commandEnvironment(
  outputDirectory: string,
  context: Pick<TaskContext, "service">,
): Record<string, string> {
  return {
    BACKUPCTL_OUTPUT_DIR: outputDirectory,
    BACKUPCTL_SERVICE_TYPE: context.service.type,
    BACKUPCTL_SERVICE_NAME: context.service.name,
  };
}

/** Returns whether what the command wrote is empty: a zero-length file or an empty directory. */
async function isEmptyOutput(path: string, isFile: boolean): Promise<boolean> {
  return isFile ? (await stat(path)).size === 0 : (await readdir(path)).length === 0;
}

/** Runs the command; removes its output when it fails. */
async function runCommandTask(task: CommandTask, context: TaskContext): Promise<TaskReport> {
  const relative = commandOutputPath(task);
  const directory = join(context.outputDir, commandOutputDirectory);
  const output = join(context.outputDir, relative);
  const hasOutputFile = task.output !== undefined;
  if (!context.isDryRun) await mkdir(directory, { recursive: true, mode: 0o700 });
  try {
    await context.run(task.argv, {
      stdout: hasOutputFile ? { file: output, mode: 0o600 } : "log",
      env: commandEnvironment(directory, context),
      timeoutMs: task.timeout,
      stderrLevel: "info",
      description: hasOutputFile ? `write ${relative}` : `write into ${relative}/`,
    });
  } catch (error) {
    if (!context.isDryRun) await removePartialOutput(output, context.logger);
    throw error;
  }
  const warnings: string[] = [];
  if (!context.isDryRun && (await isEmptyOutput(output, hasOutputFile))) {
    const warning = hasOutputFile
      ? `the command printed nothing: ${relative} is empty`
      : `the command wrote nothing into ${relative}/`;
    context.logger.warn(warning);
    warnings.push(warning);
  }
  return { outputs: [relative], warnings };
}

/** The command plugin. */
export const commandPlugin: TaskPlugin<CommandTask> = {
  key: "command",
  schema: commandTaskSchema,
  requiredTools: (task) => [task.argv[0] ?? ""],
  dump: runCommandTask,
};
