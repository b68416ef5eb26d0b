// The `influxdb` task: `influx backup` of an InfluxDB 2 server into `influxdb/`. The token comes from
// token_file or INFLUX_TOKEN and reaches the CLI only in its environment (never argv, never the log);
// the backup counts only when the CLI exited 0 and the directory is not empty.

import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { type InfluxdbTask, influxdbTaskSchema } from "../mod/config/tasks/influxdb.ts";
import { BackupError } from "../mod/lib/errors.ts";
import { registerSecret } from "../mod/lib/log.ts";
import { removePartialOutput } from "./dump-output.ts";
import { readSecretFile } from "./secrets.ts";
import type { TaskContext, TaskPlugin, TaskReport } from "./types.ts";

/** The backup directory relative to the staging dir. */
export const influxBackupPath = "influxdb";

/** Returns the `influx backup` argv; the token is not in it. */
export function influxBackupArgv(
  influx: readonly string[],
  task: InfluxdbTask,
  destination: string,
): string[] {
  return [
    ...influx,
    "backup",
    `--host=${task.host}`,
    `--org=${task.org}`,
    ...(task.bucket ? [`--bucket=${task.bucket}`] : []),
    destination,
  ];
}

/** Returns the token from token_file, else from INFLUX_TOKEN. Throws BackupError when there is none. */
async function readToken(task: InfluxdbTask, environment: NodeJS.ProcessEnv): Promise<string> {
  if (task.token_file) return await readSecretFile(task.token_file, "token");
  const token = environment.INFLUX_TOKEN?.trim();
  if (!token) {
    throw new BackupError("Cannot back up InfluxDB: no token", {
      code: "usage",
      hint: "set influxdb.token_file to a file with mode 0600 holding the token, or set INFLUX_TOKEN",
    });
  }
  registerSecret(token);
  return token;
}

/** Backs up the server into `influxdb/`; removes the directory when the backup does not count. */
async function backupInfluxdb(task: InfluxdbTask, context: TaskContext): Promise<TaskReport> {
  const destination = join(context.outputDir, influxBackupPath);
  const argv = influxBackupArgv(context.tools.influx_cmd, task, destination);
  if (context.isDryRun) {
    await context.run(argv);
    return { outputs: [influxBackupPath], warnings: [] };
  }
  const token = await readToken(task, process.env);
  await mkdir(destination, { recursive: true, mode: 0o700 });
  try {
    await context.run(argv, {
      env: { INFLUX_TOKEN: token },
      secrets: [token],
      stderrLevel: "info",
      description: `back up InfluxDB org "${task.org}"`,
    });
    if ((await readdir(destination)).length === 0) {
      throw new BackupError(
        `The InfluxDB backup of org "${task.org}" is empty: influx wrote nothing into "${influxBackupPath}/"`,
        {
          hint: "check the org and bucket names and the token's permissions",
        },
      );
    }
  } catch (error) {
    await removePartialOutput(destination, context.logger);
    throw error;
  }
  context.logger.info(`Backed up InfluxDB org "${task.org}" into ${influxBackupPath}/`);
  return { outputs: [influxBackupPath], warnings: [] };
}

/** The influxdb plugin. */
export const influxdbPlugin: TaskPlugin<InfluxdbTask> = {
  key: "influxdb",
  schema: influxdbTaskSchema,
  requiredTools: (_task, tools) => [tools.influx_cmd[0] ?? "influx"],
  dump: backupInfluxdb,
};
