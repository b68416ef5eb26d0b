// The `postgresql` task: one pg_dump (pg_dumpall for `database: all`) while the stack runs, into a file
// named after the database alone so restic sees the same path every night. A dump counts only when the
// tool exited 0 and the output is complete; otherwise the file is removed and the task fails.

import { createReadStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type PostgresqlTask, postgresqlTaskSchema } from "../mod/config/tasks/postgresql.ts";
import { BackupError, errorMessage } from "../mod/lib/errors.ts";
import { which } from "../mod/lib/exec.ts";
import { type ComposeStack, composeExecArgv, stackComposeArgv } from "./compose.ts";
import { nonEmptyLines, readFileTail, removePartialOutput, safeFileName } from "./dump-output.ts";
import { readSecretFile, withPrivateTempDir, writeSecretFile } from "./secrets.ts";
import type { TaskContext, TaskPlugin, TaskReport, ToolCommands } from "./types.ts";

/** The last line of a complete pg_dump plain-format dump. */
export const databaseDumpMarker = "-- PostgreSQL database dump complete";
/** The last line of a complete pg_dumpall dump. */
export const clusterDumpMarker = "-- PostgreSQL database cluster dump complete";

/** Returns the task's dump file relative to the staging dir: `databases/<name>.sql`, `.dump` for custom format. */
export function postgresqlDumpPath(task: Pick<PostgresqlTask, "database" | "format">): string {
  const extension = task.format === "custom" ? "dump" : "sql";
  return join("databases", `${safeFileName(task.database)}.${extension}`);
}

/** Returns the --dbname value: the name itself, or `dbname='…'` when libpq would read the name as a connection string. */
export function postgresqlDatabaseArgument(name: string): string {
  const isConnectionString = name.includes("=") || /^postgres(ql)?:\/\//.test(name);
  if (!isConnectionString) return name;
  return `dbname='${name.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/** Returns the connection options of a task: host, port and user, and --no-password (a password comes only from .pgpass). */
function connectionOptions(task: PostgresqlTask): string[] {
  return [
    ...(task.hostname ? [`--host=${task.hostname}`] : []),
    ...(task.port ? [`--port=${task.port}`] : []),
    `--username=${task.username ?? "postgres"}`,
    "--no-password",
  ];
}

/** Returns the pg_dump (or, for `all`, pg_dumpall) argv; program is the tool's argv prefix, possibly a compose exec. */
export function postgresqlDumpArgv(task: PostgresqlTask, program: readonly string[]): string[] {
  if (task.database === "all") return [...program, ...connectionOptions(task), ...task.dump_options];
  return [
    ...program,
    `--format=${task.format}`,
    ...connectionOptions(task),
    ...task.dump_options,
    // the --dbname= form: a name can never be taken for an option
    `--dbname=${postgresqlDatabaseArgument(task.database)}`,
  ];
}

/** Returns the .pgpass line giving password to every connection (`\` and `:` escaped as libpq expects). */
export function pgpassLine(password: string): string {
  return `*:*:*:*:${password.replaceAll("\\", "\\\\").replaceAll(":", "\\:")}\n`;
}

/** Returns pg_restore beside the configured pg_dump (the same version) when it is there, else pg_restore from PATH. */
export function pgRestoreCommand(
  pgDump: readonly string[],
  isExecutable = (path: string) => which(path) !== undefined,
): string[] {
  const [program] = pgDump;
  if (pgDump.length === 1 && program?.endsWith("/pg_dump")) {
    const sibling = `${program.slice(0, -"pg_dump".length)}pg_restore`;
    if (isExecutable(sibling)) return [sibling];
  }
  return ["pg_restore"];
}

/** Returns the argv that reads a whole custom-format dump (from file, or stdin when undefined) and writes the script to /dev/null. */
export function pgRestoreCheckArgv(program: readonly string[], file?: string): string[] {
  return [...program, "--file=/dev/null", ...(file === undefined ? [] : [file])];
}

/** Returns whether a plain dump's tail ends with marker (pg_dump's closing `\unrestrict` line and comment dashes may follow it). */
export function hasCompletionMarker(tail: string, marker: string): boolean {
  const lines = nonEmptyLines(tail).filter((line) => line !== "--" && !line.startsWith("\\unrestrict "));
  return lines.at(-1) === marker;
}

/** Returns the compose exec prefix of a container dump. Throws BackupError when there is no stack or a password file is set. */
async function containerPrefix(
  task: PostgresqlTask,
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
      `Cannot use password_file with container "${container}": a .pgpass on this host is not visible inside the container`,
      {
        code: "usage",
        hint: "remove password_file: inside the container pg_dump connects over the local socket, which the official image trusts",
      },
    );
  }
  return composeExecArgv(await stackComposeArgv(context.tools.docker_cmd, stack), container);
}

/** Runs use with the environment that gives the tool the task's password (PGPASSFILE to a private, temporary .pgpass). */
async function withPassword<T>(
  task: PostgresqlTask,
  context: TaskContext,
  use: (env: Record<string, string>) => Promise<T>,
): Promise<T> {
  if (!task.password_file || context.isDryRun) return await use({});
  const password = await readSecretFile(task.password_file, "password");
  return await withPrivateTempDir(context.logger, async (directory) => {
    const pgpass = join(directory, ".pgpass");
    await writeSecretFile(pgpass, pgpassLine(password));
    return await use({ PGPASSFILE: pgpass });
  });
}

/** Checks that a finished dump is complete. Throws BackupError when it is not. */
async function verifyDump(
  task: PostgresqlTask,
  file: string,
  context: TaskContext,
  exec: string[] | undefined,
): Promise<void> {
  const relative = postgresqlDumpPath(task);
  if (task.format === "plain" || task.database === "all") {
    const marker = task.database === "all" ? clusterDumpMarker : databaseDumpMarker;
    if (!hasCompletionMarker(await readFileTail(file), marker)) {
      throw new BackupError(
        `The dump of database "${task.database}" is incomplete: "${relative}" does not end with "${marker}"`,
        {
          hint: "the dump tool exited 0 but its output stops early; see its messages above",
        },
      );
    }
    return;
  }
  // pg_restore --list reads only the table of contents at the start and accepts a file cut short
  // after it; reading the whole archive is what proves every table's data is there
  const check = exec
    ? { argv: pgRestoreCheckArgv([...exec, "pg_restore"]), input: createReadStream(file) }
    : { argv: pgRestoreCheckArgv(pgRestoreCommand(context.tools.pg_dump_cmd), file), input: undefined };
  try {
    await context.run(check.argv, {
      ...(check.input ? { input: check.input } : {}),
      description: `read back "${relative}"`,
    });
  } catch (error) {
    throw new BackupError(`The dump of database "${task.database}" is not readable: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/** Dumps the task's database into `databases/`; removes the file when the dump does not count. */
async function dumpPostgresql(
  task: PostgresqlTask,
  context: TaskContext,
  stack: ComposeStack | undefined,
): Promise<TaskReport> {
  const isAll = task.database === "all";
  if (isAll && task.format === "custom") {
    throw new BackupError('Cannot dump database "all" in custom format: pg_dumpall writes plain SQL only', {
      code: "usage",
      hint: "remove format: custom, or name one database",
    });
  }
  const exec = task.container ? await containerPrefix(task, task.container, context, stack) : undefined;
  const tool = isAll ? "pg_dumpall" : "pg_dump";
  const program = exec ? [...exec, tool] : isAll ? context.tools.pg_dumpall_cmd : context.tools.pg_dump_cmd;
  const argv = postgresqlDumpArgv(task, program);
  const relative = postgresqlDumpPath(task);
  const file = join(context.outputDir, relative);
  if (!context.isDryRun) await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  try {
    await withPassword(task, context, (env) =>
      context.run(argv, {
        stdout: { file, mode: 0o600 },
        env,
        stderrLevel: "warn",
        description: `dump database "${task.database}"`,
      }),
    );
    if (!context.isDryRun) await verifyDump(task, file, context, exec);
  } catch (error) {
    if (!context.isDryRun) await removePartialOutput(file, context.logger);
    throw error;
  }
  context.logger.info(`Dumped database "${task.database}" into ${relative}`);
  return { outputs: [relative], warnings: [] };
}

/** Returns the commands a task runs on this host. */
function requiredTools(task: PostgresqlTask, tools: ToolCommands): string[] {
  if (task.container) return [tools.docker_cmd[0] ?? "docker"];
  if (task.database === "all") return [tools.pg_dumpall_cmd[0] ?? "pg_dumpall"];
  const restore = task.format === "custom" ? pgRestoreCommand(tools.pg_dump_cmd) : [];
  return [tools.pg_dump_cmd[0] ?? "pg_dump", ...restore];
}

/** Returns the postgresql plugin; given the service's compose stack, a task with `container` dumps inside it. */
export function createPostgresqlPlugin(stack?: ComposeStack): TaskPlugin<PostgresqlTask> {
  return {
    key: "postgresql",
    schema: postgresqlTaskSchema,
    requiredTools,
    dump: (task, context) => dumpPostgresql(task, context, stack),
  };
}

/** The postgresql plugin of a service without a docker task. */
export const postgresqlPlugin = createPostgresqlPlugin();
