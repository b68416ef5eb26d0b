// The lifecycle of one service (DESIGN §6.4): dumps while everything runs → quiesce (docker stop,
// recorded first) → copies → resume, always, in a finally path → wait_after_restart. A failed
// service's partial output is removed so it never reaches the archive; the other services go on.

import { copyFile, mkdir, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import type {
  QuiesceRecord,
  TaskContext,
  TaskPlugin,
  TaskReport,
  ToolCommands,
} from "../../plugins/types.ts";
import { errorMessage } from "../lib/errors.ts";
import { run } from "../lib/exec.ts";
import type { Logger } from "../lib/log.ts";
import { removeQuiesceRecord, writeQuiesceRecord } from "./quiesce-records.ts";

/** One task of a service, with its plugin and parsed block. */
export interface ServiceTask {
  key: string;
  plugin: TaskPlugin<any>;
  config: unknown;
}

/** A validated service ready to run. */
export interface ServicePlan {
  type: string;
  name: string;
  /** The service.yaml file. */
  file: string;
  tasks: ServiceTask[];
}

/** How one task went. */
export interface TaskOutcome {
  key: string;
  status: "ok" | "failed" | "not-run";
  error?: string;
  warnings: string[];
  outputs: string[];
  durationMs: number;
}

/** How one service went; `downtimeMs` is the time between quiesce and resume. */
export interface ServiceOutcome {
  type: string;
  name: string;
  status: "ok" | "failed";
  error?: string;
  tasks: TaskOutcome[];
  durationMs: number;
  downtimeMs?: number;
}

/** What runService needs besides the plan. */
export interface ServiceRunOptions {
  stagingRoot: string;
  stateDir: string;
  tools: ToolCommands;
  logger: Logger;
  isDryRun: boolean;
  signal: AbortSignal;
}

// resuming must work after SIGTERM aborted the run's signal; it gets its own, bounded one
const resumeTimeoutMs = 10 * 60 * 1000;

/** Builds the context handed to a plugin hook. */
function taskContext(
  plan: ServicePlan,
  task: ServiceTask,
  options: ServiceRunOptions,
  signal: AbortSignal,
): TaskContext {
  const logger = options.logger.child(task.key);
  return {
    service: { type: plan.type, name: plan.name, file: plan.file, directory: join(plan.file, "..") },
    taskKey: task.key,
    outputDir: join(options.stagingRoot, plan.type, plan.name),
    logger,
    isDryRun: options.isDryRun,
    signal,
    tools: options.tools,
    run: (argv, runOptions = {}) => run(argv, { logger, signal, isDryRun: options.isDryRun, ...runOptions }),
  };
}

/** Runs one hook of every task that has it, in order, recording outcomes; stops at the first failure. */
async function runStep(
  step: "dump" | "copy",
  plan: ServicePlan,
  options: ServiceRunOptions & { isQuiesced?: boolean },
  outcomes: Map<string, TaskOutcome>,
): Promise<string | undefined> {
  for (const task of plan.tasks) {
    const hook = task.plugin[step];
    if (!hook) continue;
    const outcome = outcomes.get(task.key) as TaskOutcome;
    const startedAt = performance.now();
    try {
      const context = taskContext(plan, task, options, options.signal);
      if (step === "copy") context.isQuiesced = options.isQuiesced ?? false;
      const report: TaskReport = await hook(task.config, context);
      outcome.outputs.push(...report.outputs);
      outcome.warnings.push(...report.warnings);
      outcome.status = "ok";
    } catch (error) {
      outcome.status = "failed";
      outcome.error = errorMessage(error);
      return `${task.key}: ${outcome.error}`;
    } finally {
      outcome.durationMs += Math.round(performance.now() - startedAt);
    }
  }
  return undefined;
}

/** Runs the service's lifecycle and returns its outcome; never throws for a task failure. */
export async function runService(plan: ServicePlan, options: ServiceRunOptions): Promise<ServiceOutcome> {
  const { logger } = options;
  const startedAt = performance.now();
  const outputDir = join(options.stagingRoot, plan.type, plan.name);
  const outcomes = new Map<string, TaskOutcome>(
    plan.tasks.map((task) => [
      task.key,
      { key: task.key, status: "not-run", warnings: [], outputs: [], durationMs: 0 },
    ]),
  );
  const stopped: { task: ServiceTask; record: QuiesceRecord }[] = [];
  let failure: string | undefined;
  let quiescedAt: number | undefined;
  let resumedAt: number | undefined;

  logger.info(
    `Backing up service ${plan.type}/${plan.name} (${plan.tasks.map((task) => task.key).join(", ")})`,
  );
  try {
    if (!options.isDryRun) {
      await mkdir(join(outputDir, "config_used"), { recursive: true, mode: 0o700 });
      await copyFile(plan.file, join(outputDir, "config_used", basename(plan.file)));
    }
    failure = await runStep("dump", plan, options, outcomes);
    if (!failure) {
      for (const task of plan.tasks) {
        if (!task.plugin.quiesce) continue;
        const record = async (data: Record<string, unknown>) => {
          stopped.push({ task, record: { taskKey: task.key, data } });
          quiescedAt ??= performance.now();
          if (options.isDryRun) return;
          await writeQuiesceRecord(options.stateDir, {
            serviceType: plan.type,
            serviceName: plan.name,
            taskKey: task.key,
            pid: process.pid,
            recordedAt: new Date().toISOString(),
            data,
          });
        };
        try {
          await task.plugin.quiesce(task.config, taskContext(plan, task, options, options.signal), record);
        } catch (error) {
          const outcome = outcomes.get(task.key) as TaskOutcome;
          outcome.status = "failed";
          outcome.error = errorMessage(error);
          failure = `${task.key}: ${outcome.error}`;
          break;
        }
      }
    }
    // a files task reads its sources in place at archive time unless the service is stopped now
    if (!failure)
      failure = await runStep("copy", plan, { ...options, isQuiesced: stopped.length > 0 }, outcomes);
  } catch (error) {
    failure ??= errorMessage(error);
  } finally {
    const resumeFailure = await resumeStopped(plan, stopped, options);
    if (stopped.length > 0) resumedAt = performance.now();
    failure ??= resumeFailure;
  }

  if (failure) {
    logger.error(`Service ${plan.type}/${plan.name} failed: ${failure}`);
    if (!options.isDryRun) await rm(outputDir, { recursive: true, force: true });
  } else {
    logger.info(`Service ${plan.type}/${plan.name} done`);
  }
  return {
    type: plan.type,
    name: plan.name,
    status: failure ? "failed" : "ok",
    ...(failure ? { error: failure } : {}),
    tasks: [...outcomes.values()],
    durationMs: Math.round(performance.now() - startedAt),
    ...(quiescedAt !== undefined && resumedAt !== undefined
      ? { downtimeMs: Math.round(resumedAt - quiescedAt) }
      : {}),
  };
}

/** Resumes what was stopped, newest first, then waits wait_after_restart; returns the first failure. */
async function resumeStopped(
  plan: ServicePlan,
  stopped: { task: ServiceTask; record: QuiesceRecord }[],
  options: ServiceRunOptions,
): Promise<string | undefined> {
  let failure: string | undefined;
  let waitSeconds = 0;
  for (const { task, record } of [...stopped].reverse()) {
    const signal = AbortSignal.timeout(resumeTimeoutMs);
    try {
      await task.plugin.resume?.(record.data, taskContext(plan, task, options, signal));
      if (!options.isDryRun) {
        await removeQuiesceRecord(options.stateDir, {
          serviceType: plan.type,
          serviceName: plan.name,
          taskKey: task.key,
        });
      }
      waitSeconds = Math.max(waitSeconds, task.plugin.waitAfterResumeSeconds?.(task.config) ?? 0);
    } catch (error) {
      // the record stays: the next run tries again to start what this one could not
      const message = `${task.key}: cannot start again what was stopped: ${errorMessage(error)}`;
      options.logger.error(message);
      failure ??= message;
    }
  }
  if (waitSeconds > 0 && !options.isDryRun) {
    options.logger.info(`Waiting ${waitSeconds} s after the restart (wait_after_restart)`);
    await Bun.sleep(waitSeconds * 1000);
  }
  return failure;
}
