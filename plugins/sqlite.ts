// The `sqlite` task: an online copy of one database file with the sqlite3 shell's `.backup` (the backup
// API, consistent while the application writes), into `databases/<file name>`, which counts only when
// `PRAGMA integrity_check` on the copy prints "ok".

import { lstat, mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { type SqliteTask, sqliteTaskSchema } from "../mod/config/tasks/sqlite.ts";
import { BackupError, errnoCode } from "../mod/lib/errors.ts";
import { removePartialOutput, safeFileName } from "./dump-output.ts";
import type { TaskContext, TaskPlugin, TaskReport } from "./types.ts";

// a writer holding the database lock is waited for this long before the copy fails
const busyTimeoutMs = 30_000;
// no ~/.sqliterc, no prompts, stop at the first error
const shellOptions = ["-batch", "-bail", "-init", "/dev/null"];

/** Returns the copy's path relative to the staging dir: `databases/<file name>`. */
export function sqliteBackupPath(task: SqliteTask): string {
  return join("databases", safeFileName(basename(task.path)));
}

/** Returns value as one argument of a sqlite3 dot command: double-quoted, with `\`, `"` and line breaks escaped. */
export function quoteDotCommandArgument(value: string): string {
  const escaped = value
    .replaceAll("\\", "\\\\")
    .replaceAll('"', '\\"')
    .replaceAll("\n", "\\n")
    .replaceAll("\r", "\\r")
    .replaceAll("\t", "\\t");
  return `"${escaped}"`;
}

/** Returns the argv copying source into destination with `.backup`. */
export function sqliteBackupArgv(sqlite3: readonly string[], source: string, destination: string): string[] {
  return [
    ...sqlite3,
    ...shellOptions,
    "-cmd",
    `.timeout ${busyTimeoutMs}`,
    source,
    `.backup ${quoteDotCommandArgument(destination)}`,
  ];
}

/** Returns the argv checking a database file's integrity; it prints "ok" when the file is sound. */
export function sqliteIntegrityArgv(sqlite3: readonly string[], file: string): string[] {
  return [...sqlite3, ...shellOptions, file, "PRAGMA integrity_check"];
}

/** Throws BackupError when the database file does not exist (sqlite3 would create an empty one). */
async function ensureDatabaseExists(path: string): Promise<void> {
  try {
    await lstat(path);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error;
    throw new BackupError(`Database file "${path}" not found`, {
      hint: "fix sqlite.path in the service file",
    });
  }
}

/** Copies the database into `databases/` and checks the copy; removes it when it does not count. */
async function backupSqlite(task: SqliteTask, context: TaskContext): Promise<TaskReport> {
  const relative = sqliteBackupPath(task);
  const destination = join(context.outputDir, relative);
  const sqlite3 = context.tools.sqlite3_cmd;
  if (!context.isDryRun) {
    await ensureDatabaseExists(task.path);
    await mkdir(join(context.outputDir, "databases"), { recursive: true, mode: 0o700 });
  }
  try {
    await context.run(sqliteBackupArgv(sqlite3, task.path, destination), {
      stderrLevel: "warn",
      description: `copy database "${task.path}"`,
    });
    const check = await context.run(sqliteIntegrityArgv(sqlite3, destination), {
      stdout: "capture",
      description: `check the copy of "${task.path}"`,
    });
    const verdict = (check.stdout ?? "").trim();
    if (!context.isDryRun && verdict !== "ok") {
      throw new BackupError(
        `The copy of database "${task.path}" failed its integrity check: ${verdict.split("\n").slice(0, 5).join("; ")}`,
        {
          hint: "run PRAGMA integrity_check on the database itself; it may be damaged",
        },
      );
    }
  } catch (error) {
    if (!context.isDryRun) {
      for (const suffix of ["", "-journal", "-wal", "-shm"]) {
        await removePartialOutput(`${destination}${suffix}`, context.logger);
      }
    }
    throw error;
  }
  context.logger.info(`Copied database "${task.path}" into ${relative}`);
  return { outputs: [relative], warnings: [] };
}

/** The sqlite plugin. */
export const sqlitePlugin: TaskPlugin<SqliteTask> = {
  key: "sqlite",
  schema: sqliteTaskSchema,
  requiredTools: (_task, tools) => [tools.sqlite3_cmd[0] ?? "sqlite3"],
  dump: backupSqlite,
};
