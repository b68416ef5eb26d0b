// External plugins (DESIGN §9, protocol in plugins/README.md): an executable in plugin_dir named after a
// task key becomes a task plugin, called once per phase with the task block as JSON on stdin. It runs as
// root, so only root (or the invoking user) may be able to change it or the directory that holds it.

import { realpathSync, statSync } from "node:fs";
import { mkdir, readdir, rmdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { z } from "zod";
import { formatMode } from "../mod/config/permissions.ts";
import { BackupError, errnoCode } from "../mod/lib/errors.ts";
import { nameProblem } from "../mod/lib/names.ts";
import { removePartialOutput } from "./dump-output.ts";
import type { TaskContext, TaskPlugin, TaskReport } from "./types.ts";

/** The phases a plugin is called for, in lifecycle order. */
export const externalPluginPhases = ["dump", "quiesce", "copy", "resume"] as const;
export type ExternalPluginPhase = (typeof externalPluginPhases)[number];

/** Exit status of a plugin that does not handle the phase it was called for. */
export const skipExitCode = 75;

/**
 * How long a quiesce phase may take. What it stops stays down until resume, so a plugin hanging there
 * would hold the service down until systemd's TimeoutStartSec (4 h); ended after this, the service
 * fails and resume runs, which has the same bound (mod/client/service-run.ts).
 */
export const defaultQuiesceTimeoutMs = 10 * 60 * 1000;

/** Directories the built-in tasks write in a service's staging dir; an external task key must not take one. */
export const reservedOutputNames = [
  "config_used",
  "data",
  "databases",
  "docker_config",
  "commands",
  "influxdb",
];

/** The facts about a file that decide whether it may be run (a subset of fs.Stats). */
export interface FileFacts {
  isFile: boolean;
  mode: number;
  uid: number;
}

/** Why a file must not be run as a plugin, and the command that fixes it. */
export interface PluginProblem {
  message: string;
  hint?: string;
}

/** What a quiesce phase records: the task block, and the JSON object the plugin printed about what it stopped. */
export interface ExternalQuiesceData {
  task: unknown;
  state: Record<string, unknown> | null;
}

/** Returns whether a value is a JSON object (not an array, not null). */
function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Returns why a directory lets someone other than root or uid replace the files in it, or undefined. */
function directoryProblem(directory: string, facts: FileFacts, uid: number): PluginProblem | undefined {
  const isSticky = (facts.mode & 0o1000) !== 0;
  if ((facts.mode & 0o022) !== 0 && !isSticky) {
    return {
      message: `its directory "${directory}" (mode ${formatMode(facts.mode)}) lets other users replace it`,
      hint: `run chmod go-w ${directory}`,
    };
  }
  if (facts.uid !== 0 && facts.uid !== uid) {
    return {
      message: `its directory "${directory}" is owned by uid ${facts.uid}`,
      hint: `run chown root ${directory}`,
    };
  }
  return undefined;
}

/** Returns why a file must not be run as a plugin (not a regular executable file, changeable by others, or in a directory others can write), or undefined. */
export function externalPluginProblem(
  path: string,
  file: FileFacts,
  directories: ReadonlyMap<string, FileFacts>,
  uid: number,
): PluginProblem | undefined {
  if (!file.isFile) return { message: "it is not a regular file" };
  if ((file.mode & 0o111) === 0) {
    return { message: `it is not executable (mode ${formatMode(file.mode)})`, hint: `run chmod 755 ${path}` };
  }
  if (file.uid !== 0 && file.uid !== uid) {
    return {
      message: `it is owned by uid ${file.uid}, not by root${uid === 0 ? "" : ` or uid ${uid}`}`,
      hint: `run chown root ${path}`,
    };
  }
  if ((file.mode & 0o022) !== 0) {
    return {
      message: `mode ${formatMode(file.mode)} lets other users change it`,
      hint: `run chmod go-w ${path}`,
    };
  }
  for (const [directory, facts] of directories) {
    const problem = directoryProblem(directory, facts, uid);
    if (problem) return problem;
  }
  return undefined;
}

/** Returns the facts of a path (following symlinks), or undefined when it does not exist. */
function factsOf(path: string): FileFacts | undefined {
  try {
    const stats = statSync(path);
    return { isFile: stats.isFile(), mode: stats.mode, uid: stats.uid };
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return undefined;
    throw error;
  }
}

/** Returns the environment of one phase. */
export function externalPluginEnvironment(
  phase: ExternalPluginPhase,
  context: Pick<TaskContext, "service" | "isDryRun" | "outputDir" | "taskKey">,
): Record<string, string> {
  return {
    BACKUPCTL_PHASE: phase,
    BACKUPCTL_OUTPUT_DIR: join(context.outputDir, context.taskKey),
    BACKUPCTL_SERVICE_NAME: context.service.name,
    BACKUPCTL_SERVICE_TYPE: context.service.type,
    BACKUPCTL_DRY_RUN: context.isDryRun ? "1" : "0",
  };
}

/** Runs one phase of a plugin; returns whether it skipped the phase, and its stdout when captured. */
async function runPhase(
  path: string,
  phase: ExternalPluginPhase,
  input: unknown,
  context: TaskContext,
  options: { shouldCapture?: boolean; timeoutMs?: number } = {},
): Promise<{ isSkipped: boolean; stdout: string }> {
  const result = await context.run([path], {
    input: JSON.stringify(input ?? null),
    env: externalPluginEnvironment(phase, context),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    okExitCodes: [0, skipExitCode],
    // the plugin is told about dry-run in BACKUPCTL_DRY_RUN and must then change nothing, only describe
    isDryRun: false,
    stdout: options.shouldCapture ? "capture" : "log",
    stderrLevel: "info",
    description: `${phase} phase of plugin "${context.taskKey}"`,
  });
  return { isSkipped: result.exitCode === skipExitCode, stdout: result.stdout ?? "" };
}

/** Runs a phase that writes output (dump, copy) with a fresh `<outputDir>/<taskKey>`; removes it when the phase fails. */
async function runOutputPhase(
  path: string,
  phase: "dump" | "copy",
  block: unknown,
  context: TaskContext,
): Promise<TaskReport> {
  const directory = join(context.outputDir, context.taskKey);
  if (context.isDryRun) {
    await runPhase(path, phase, block, context);
    return { outputs: [], warnings: [] };
  }
  await mkdir(directory, { recursive: true, mode: 0o700 });
  let isSkipped: boolean;
  try {
    ({ isSkipped } = await runPhase(path, phase, block, context));
  } catch (error) {
    await removePartialOutput(directory, context.logger);
    throw error;
  }
  if ((await readdir(directory)).length === 0) {
    await rmdir(directory);
    return { outputs: [], warnings: [] };
  }
  return { outputs: isSkipped ? [] : [context.taskKey], warnings: [] };
}

/** Runs the quiesce phase; what the plugin prints (a JSON object) is kept for its resume phase. Throws BackupError when it prints something else. */
async function runQuiescePhase(
  path: string,
  block: unknown,
  context: TaskContext,
  record: (data: Record<string, unknown>) => Promise<void>,
  timeoutMs: number,
): Promise<void> {
  const data: ExternalQuiesceData = { task: block ?? null, state: null };
  // recorded before the plugin can stop anything; what it prints about what it stopped is added to the
  // same record object afterwards, which this run's resume receives (a run killed in between resumes
  // from the task block alone)
  await record(data as unknown as Record<string, unknown>);
  const { isSkipped, stdout } = await runPhase(path, "quiesce", block, context, {
    shouldCapture: true,
    timeoutMs,
  });
  const text = stdout.trim();
  if (isSkipped || text === "") return;
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch {
    state = undefined;
  }
  if (!isJsonObject(state)) {
    throw new BackupError(
      `Plugin "${context.taskKey}" printed no JSON object in its quiesce phase: ${text.slice(0, 200)}`,
      {
        hint: "print one JSON object, or nothing, on stdout; write messages to stderr",
      },
    );
  }
  data.state = state;
}

/** Runs the resume phase with what quiesce printed, or with the task block when it printed nothing. */
async function runResumePhase(
  path: string,
  data: Record<string, unknown>,
  context: TaskContext,
): Promise<void> {
  const input = isJsonObject(data.state) ? data.state : (data.task ?? null);
  await runPhase(path, "resume", input, context);
}

/** Returns the task plugin that runs the executable at path for every phase. */
export function createExternalPlugin(
  key: string,
  path: string,
  options: { quiesceTimeoutMs?: number } = {},
): TaskPlugin<unknown> {
  const quiesceTimeoutMs = options.quiesceTimeoutMs ?? defaultQuiesceTimeoutMs;
  return {
    key,
    schema: z.unknown(),
    requiredTools: () => [path],
    dump: (block, context) => runOutputPhase(path, "dump", block, context),
    quiesce: (block, context, record) => runQuiescePhase(path, block, context, record, quiesceTimeoutMs),
    copy: (block, context) => runOutputPhase(path, "copy", block, context),
    resume: (data, context) => runResumePhase(path, data, context),
  };
}

/** Returns the external plugin of key in pluginDir, or undefined when there is none. Throws BackupError (usage) when the file exists but must not be run, or key takes a built-in output directory's name. */
export function findExternalPlugin(
  key: string,
  pluginDir: string,
  options: { uid?: number } = {},
): TaskPlugin<unknown> | undefined {
  if (nameProblem(key) !== undefined) return undefined;
  const path = join(pluginDir, key);
  const file = factsOf(path);
  if (!file) return undefined;
  if (reservedOutputNames.includes(key)) {
    throw new BackupError(
      `Cannot use plugin "${path}": its task key "${key}" is the name of a built-in output directory`,
      {
        code: "usage",
        hint: `rename the plugin; these names are taken: ${reservedOutputNames.join(", ")}`,
      },
    );
  }
  const directories = new Map<string, FileFacts>();
  for (const directory of new Set([dirname(path), dirname(realpathSync(path))])) {
    const facts = factsOf(directory);
    if (facts) directories.set(directory, facts);
  }
  const uid = options.uid ?? process.getuid?.() ?? 0;
  const problem = externalPluginProblem(path, file, directories, uid);
  if (problem) {
    throw new BackupError(`Cannot use plugin "${path}": ${problem.message}`, {
      code: "usage",
      hint: problem.hint,
    });
  }
  return createExternalPlugin(key, path);
}
