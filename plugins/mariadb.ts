// The `mariadb` task (also under the key `mysql`): one mariadb-dump, or mysqldump where that is all
// there is, while the stack runs. The password reaches the tool in a private option file given as its
// first option; a dump counts only when the tool exited 0 and its last line is "-- Dump completed".

import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type MariadbTask, mariadbTaskSchema } from "../mod/config/tasks/mariadb.ts";
import { BackupError } from "../mod/lib/errors.ts";
import { which } from "../mod/lib/exec.ts";
import { type ComposeStack, composeExecArgv, stackComposeArgv } from "./compose.ts";
import { nonEmptyLines, readFileTail, removePartialOutput, safeFileName } from "./dump-output.ts";
import { readSecretFile, withPrivateTempDir, writeSecretFile } from "./secrets.ts";
import type { TaskContext, TaskPlugin, TaskReport, ToolCommands } from "./types.ts";

/** The start of the last line of a complete dump (the date follows unless --skip-dump-date is given). */
export const mariadbDumpMarker = "-- Dump completed";

// exit codes of `compose exec` when the program does not exist in the container
const programMissingExitCodes = [126, 127];

/** Returns the task's dump file relative to the staging dir: `databases/<name>.sql` or `databases/all-databases.sql`. */
export function mariadbDumpPath(task: Pick<MariadbTask, "database">): string {
  const name = task.database === "all" ? "all-databases" : safeFileName(task.database);
  return join("databases", `${name}.sql`);
}

/** Returns the dump argv: the option file first (the tools accept it only there), then consistency and object options, connection, dump_options, databases. */
export function mariadbDumpArgv(
  task: MariadbTask,
  program: readonly string[],
  options: { optionFile?: string } = {},
): string[] {
  return [
    ...program,
    ...(options.optionFile ? [`--defaults-extra-file=${options.optionFile}`] : []),
    ...(task.single_transaction ? ["--single-transaction"] : []),
    "--routines",
    "--events",
    "--triggers",
    // without the date in its last line an unchanged database gives an unchanged file, which restic stores once
    "--skip-dump-date",
    ...(task.hostname ? [`--host=${task.hostname}`] : []),
    ...(task.port ? [`--port=${task.port}`] : []),
    `--user=${task.username ?? "root"}`,
    ...task.dump_options,
    ...(task.database === "all" ? ["--all-databases"] : ["--databases", "--", task.database]),
  ];
}

/** Returns an option file that gives the password to the client tools (quoted, `\` and `"` escaped). */
export function mariadbOptionFileText(password: string): string {
  return `[client]\npassword="${password.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"\n`;
}

/** Returns mariadb-dump when it is installed, else mysqldump (as configured in tools). */
export function mariadbDumpCommand(
  tools: ToolCommands,
  isFound = (program: string) => which(program) !== undefined,
): string[] {
  const [program] = tools.mariadb_dump_cmd;
  return program !== undefined && isFound(program) ? tools.mariadb_dump_cmd : tools.mysqldump_cmd;
}

/** Returns whether a dump's tail ends with the completion line. */
export function isCompleteMariadbDump(tail: string): boolean {
  return nonEmptyLines(tail).at(-1)?.startsWith(mariadbDumpMarker) ?? false;
}

/** Returns the dump program inside a compose service: mariadb-dump when the image has it, else mysqldump. Throws BackupError when there is no stack or a password file is set. */
async function containerProgram(
  task: MariadbTask,
  container: string,
  context: TaskContext,
  stack: ComposeStack | undefined,
): Promise<string[]> {
  if (!stack) {
    throw new BackupError(
      `Cannot dump database "${task.database}" in container "${container}": the service file has no docker task`,
      {
        code: "usage",
        hint: "add a docker block with the stack's compose_file, or remove container",
      },
    );
  }
  if (task.password_file) {
    throw new BackupError(
      `Cannot use password_file with container "${container}": an option file on this host is not visible inside the container`,
      {
        code: "usage",
        hint: "remove password_file and give the container's dump user an option file of its own (/root/.my.cnf in the container)",
      },
    );
  }
  const exec = composeExecArgv(await stackComposeArgv(context.tools.docker_cmd, stack), container);
  if (context.isDryRun) return [...exec, "mariadb-dump"];
  // MariaDB 11 images have only mariadb-dump, MySQL images only mysqldump
  const probe = await context.run([...exec, "mariadb-dump", "--version"], {
    okExitCodes: [0, ...programMissingExitCodes],
    description: "look for mariadb-dump in the container",
  });
  return [...exec, probe.exitCode === 0 ? "mariadb-dump" : "mysqldump"];
}

/** Runs use with the option file holding the task's password, or without one (the tool then reads its own ~/.my.cnf). */
async function withOptionFile<T>(
  task: MariadbTask,
  context: TaskContext,
  use: (optionFile: string | undefined) => Promise<T>,
): Promise<T> {
  if (!task.password_file) return await use(undefined);
  if (context.isDryRun) return await use("<temporary option file>");
  const password = await readSecretFile(task.password_file, "password");
  return await withPrivateTempDir(context.logger, async (directory) => {
    const optionFile = join(directory, "client.cnf");
    await writeSecretFile(optionFile, mariadbOptionFileText(password));
    return await use(optionFile);
  });
}

/** Dumps the task's database(s) into `databases/`; removes the file when the dump does not count. */
async function dumpMariadb(
  task: MariadbTask,
  context: TaskContext,
  stack: ComposeStack | undefined,
): Promise<TaskReport> {
  const program = task.container
    ? await containerProgram(task, task.container, context, stack)
    : mariadbDumpCommand(context.tools);
  const relative = mariadbDumpPath(task);
  const file = join(context.outputDir, relative);
  if (!context.isDryRun) await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  try {
    await withOptionFile(task, context, (optionFile) =>
      context.run(mariadbDumpArgv(task, program, optionFile ? { optionFile } : {}), {
        stdout: { file, mode: 0o600 },
        stderrLevel: "warn",
        description: `dump database "${task.database}"`,
      }),
    );
    if (!context.isDryRun && !isCompleteMariadbDump(await readFileTail(file))) {
      throw new BackupError(
        `The dump of database "${task.database}" is incomplete: "${relative}" does not end with "${mariadbDumpMarker}"`,
        {
          hint: "the dump tool exited 0 but its output stops early; see its messages above",
        },
      );
    }
  } catch (error) {
    if (!context.isDryRun) await removePartialOutput(file, context.logger);
    throw error;
  }
  context.logger.info(`Dumped database "${task.database}" into ${relative}`);
  return { outputs: [relative], warnings: [] };
}

/** Returns the commands a task runs on this host. */
function requiredTools(task: MariadbTask, tools: ToolCommands): string[] {
  if (task.container) return [tools.docker_cmd[0] ?? "docker"];
  return [mariadbDumpCommand(tools)[0] ?? "mariadb-dump"];
}

/** Returns the mariadb plugin; given the service's compose stack, a task with `container` dumps inside it. */
export function createMariadbPlugin(stack?: ComposeStack): TaskPlugin<MariadbTask> {
  return {
    key: "mariadb",
    aliases: ["mysql"],
    schema: mariadbTaskSchema,
    requiredTools,
    dump: (task, context) => dumpMariadb(task, context, stack),
  };
}

/** The mariadb plugin of a service without a docker task. */
export const mariadbPlugin = createMariadbPlugin();
