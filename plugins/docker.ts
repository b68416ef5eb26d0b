// The `docker` task: while the service's files are copied, the running services of its compose stack
// are stopped — recorded first, so a killed run leaves a record the next run resumes from — and exactly
// those are started again. Its dump step copies the compose configuration and can pin the images.

import { copyFile, mkdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type DockerTask, dockerTaskSchema } from "../mod/config/tasks/docker.ts";
import { BackupError, errorMessage } from "../mod/lib/errors.ts";
import { quoteArgv } from "../mod/lib/exec.ts";
import { isRegularFile } from "../mod/lib/fs.ts";
import {
  type ComposeStack,
  composeOverrideNames,
  projectDirectoryOf,
  runningServicesArgv,
  stackComposeArgv,
  startServicesArgv,
  stopServicesArgv,
} from "./compose.ts";
import { writePinnedComposeFile } from "./docker-pin.ts";
import type { TaskContext, TaskPlugin, TaskReport } from "./types.ts";

/** What the docker task records before it stops anything, and gets back to resume. */
export interface DockerQuiesceData {
  /** The compose argv prefix of the stack, as it was when stopped (the config may change before a resume). */
  compose: string[];
  /** The services this run stopped: exactly these are started again. */
  services: string[];
}

// `docker compose` and `docker-compose` both answer within seconds; a hung daemon must not hang the run
const composeQueryTimeoutMs = 2 * 60 * 1000;
const startAttemptDelaysMs = [1000, 3000];

/** Returns the services to stop: the running ones that stop_services selects (true: all, false: none, a list: those). */
export function servicesToStop(running: readonly string[], selection: DockerTask["stop_services"]): string[] {
  if (selection === false) return [];
  if (selection === true) return [...running];
  return running.filter((service) => selection.includes(service));
}

/** Returns the names of the stack's running services. Runs even in dry-run: it only reads. */
async function listRunningServices(compose: string[], context: TaskContext): Promise<string[]> {
  const result = await context.run(runningServicesArgv(compose), {
    stdout: "capture",
    isDryRun: false,
    timeoutMs: composeQueryTimeoutMs,
    description: "list the running compose services",
  });
  return (result.stdout ?? "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

/** Stops the running services the task selects, recording them before the stop. */
async function stopRunningServices(
  task: DockerTask,
  context: TaskContext,
  record: (data: Record<string, unknown>) => Promise<void>,
): Promise<void> {
  if (task.stop_services === false) {
    context.logger.info("stop_services is false: the stack keeps running while files are copied");
    return;
  }
  const compose = await stackComposeArgv(context.tools.docker_cmd, task);
  const running = await listRunningServices(compose, context);
  const services = servicesToStop(running, task.stop_services);
  if (Array.isArray(task.stop_services)) {
    const notRunning = task.stop_services.filter((service) => !running.includes(service));
    if (notRunning.length > 0) {
      context.logger.info(`Not running, left as they are: ${notRunning.join(", ")}`);
    }
  }
  if (services.length === 0) {
    context.logger.info(`No service of "${task.compose_file}" is running: nothing to stop`);
    return;
  }
  const data: DockerQuiesceData = { compose, services };
  // recorded first: a run killed during or after the stop leaves the record the next run resumes from
  await record({ ...data });
  context.logger.info(`Stopping ${services.join(", ")} (up to ${task.stop_wait_seconds} s each)`);
  await context.run(stopServicesArgv(compose, services, task.stop_wait_seconds), {
    timeoutMs: (task.stop_wait_seconds + 120) * 1000,
    description: `stop ${services.join(", ")}`,
  });
}

/** Returns the recorded data, checked. Throws BackupError when the record does not hold a compose argv and services. */
export function parseQuiesceData(data: Record<string, unknown>): DockerQuiesceData {
  const isStringList = (value: unknown): value is string[] =>
    Array.isArray(value) && value.every((item) => typeof item === "string");
  if (!isStringList(data.compose) || data.compose.length === 0 || !isStringList(data.services)) {
    throw new BackupError(
      `Cannot resume from the stop record ${JSON.stringify(data)}: it names no compose stack`,
      {
        hint: "start the stack's services by hand, then delete the record",
      },
    );
  }
  return { compose: data.compose, services: data.services };
}

/** Starts exactly the services the record names, retrying twice. Throws BackupError naming them when they stay down. */
async function startStoppedServices(data: Record<string, unknown>, context: TaskContext): Promise<void> {
  const { compose, services } = parseQuiesceData(data);
  if (services.length === 0) return;
  const argv = startServicesArgv(compose, services);
  context.logger.info(`Starting ${services.join(", ")} again`);
  let lastError: unknown;
  for (let attempt = 0; attempt <= startAttemptDelaysMs.length; attempt++) {
    try {
      await context.run(argv, {
        timeoutMs: composeQueryTimeoutMs,
        description: `start ${services.join(", ")}`,
      });
      return;
    } catch (error) {
      lastError = error;
      const delay = startAttemptDelaysMs[attempt];
      if (delay === undefined || context.signal.aborted) break;
      context.logger.warn(
        `Starting ${services.join(", ")} failed, trying again in ${delay / 1000} s: ${errorMessage(error)}`,
      );
      await Bun.sleep(delay);
    }
  }
  throw new BackupError(
    `Cannot start ${services.map((service) => `"${service}"`).join(", ")} again: ${errorMessage(lastError)}`,
    {
      cause: lastError,
      hint: `they are still stopped; start them by hand: ${quoteArgv(argv)}`,
    },
  );
}

/** Returns the configuration files of a stack that exist: the compose file, .env, and override files beside it. */
export async function composeConfigFiles(stack: ComposeStack): Promise<string[]> {
  const composeDirectory = dirname(stack.compose_file);
  const candidates = [
    stack.compose_file,
    join(projectDirectoryOf(stack), ".env"),
    ...composeOverrideNames.map((name) => join(composeDirectory, name)),
  ];
  const files: string[] = [];
  for (const file of new Set(candidates)) {
    if (await isRegularFile(file)) files.push(file);
  }
  if (!files.includes(stack.compose_file)) {
    throw new BackupError(`Cannot read the compose file "${stack.compose_file}": no such file`, {
      hint: "fix docker.compose_file in the service file",
    });
  }
  return files;
}

/** Copies the stack's configuration into `docker_config/` and, with pin_images, writes the pinned compose file. */
async function saveComposeConfig(task: DockerTask, context: TaskContext): Promise<TaskReport> {
  const report: TaskReport = { outputs: [], warnings: [] };
  if (!task.backup_config && !task.pin_images) return report;
  const directory = join(context.outputDir, "docker_config");
  const files = await composeConfigFiles(task);
  if (context.isDryRun) {
    if (task.backup_config) context.logger.info(`would copy ${files.join(", ")} into docker_config/`);
    if (task.pin_images) context.logger.info("would write docker_config/docker-compose.pinned.yml");
    return report;
  }
  await mkdir(directory, { recursive: true, mode: 0o700 });
  if (task.backup_config) {
    for (const file of files) await copyFile(file, join(directory, basename(file)));
    context.logger.info(`Copied ${files.map((file) => basename(file)).join(", ")} into docker_config/`);
  }
  if (task.pin_images) {
    const warnings = await writePinnedComposeFile(
      task,
      context,
      join(directory, "docker-compose.pinned.yml"),
    );
    report.warnings.push(...warnings);
  }
  report.outputs.push("docker_config");
  return report;
}

/** The docker plugin. */
export const dockerPlugin: TaskPlugin<DockerTask> = {
  key: "docker",
  schema: dockerTaskSchema,
  requiredTools: (task, tools) => [
    tools.docker_cmd[0] ?? "docker",
    ...(task.pin_images ? [tools.docker_cli_cmd[0] ?? "docker"] : []),
  ],
  dump: saveComposeConfig,
  quiesce: stopRunningServices,
  resume: startStoppedServices,
  waitAfterResumeSeconds: (task) => task.wait_after_restart,
};
