// The contract between the client's per-service lifecycle and a task plugin (DESIGN §9). A plugin is
// a plain value: its task key, a strict schema for its block, and hooks for the lifecycle steps it
// takes part in. Hooks get a context and never touch process or console directly.

import type { z } from "zod";
import type { Tools } from "../mod/config/tools.ts";
import type { RunOptions, RunResult } from "../mod/lib/exec.ts";
import type { Logger } from "../mod/lib/log.ts";

/** Tool commands (`tools.*_cmd`, each an argv prefix such as ["docker", "compose"]), resolved from config. */
export type ToolCommands = Tools;

/** What every hook of a task gets. */
export interface TaskContext {
  service: { type: string; name: string; file: string; directory: string };
  taskKey: string;
  /** The service's staging directory: `<staging>/<type>/<name>`; outputs go into subdirectories. */
  outputDir: string;
  logger: Logger;
  isDryRun: boolean;
  signal: AbortSignal;
  tools: ToolCommands;
  /** Runs a command with this task's logger, abort signal and dry-run gate already applied. */
  run(argv: string[], options?: RunOptions): Promise<RunResult>;
  /**
   * For copy hooks: whether the service's quiesce step stopped something that stays stopped while
   * the hook runs (false: nothing was stopped). Undefined where the caller does not say.
   */
  isQuiesced?: boolean;
}

/** What a task reports for the manifest. */
export interface TaskReport {
  /** Paths written, relative to the service's staging directory. */
  outputs: string[];
  warnings: string[];
}

/** What a quiesce hook stopped, recorded on disk before stopping so a later run can undo it. */
export interface QuiesceRecord {
  taskKey: string;
  /** Plugin-specific data the resume hook needs (for docker: compose argv and the services stopped). */
  data: Record<string, unknown>;
}

/** A built-in task plugin. Config is the parsed block of its task key. */
export interface TaskPlugin<Config = unknown> {
  /** Task key in service.yaml (`postgresql`, `files`, …). */
  key: string;
  /** Other task keys handled by the same plugin (`mysql` for `mariadb`). */
  aliases?: string[];
  schema: z.ZodType<Config>;
  /** The commands this task needs, for `client services` and the pre-flight check. */
  requiredTools(config: Config, tools: ToolCommands): string[];
  /** Runs while everything is up: database dumps, config copies. */
  dump?(config: Config, context: TaskContext): Promise<TaskReport>;
  /**
   * Stops what must be still while files are copied. `record` is called with what is about to be
   * stopped before stopping it, so a run killed at any moment leaves a record to resume from.
   */
  quiesce?(
    config: Config,
    context: TaskContext,
    record: (data: Record<string, unknown>) => Promise<void>,
  ): Promise<void>;
  /** Copies files while the service is quiesced. */
  copy?(config: Config, context: TaskContext): Promise<TaskReport>;
  /** Starts again exactly what quiesce stopped; gets the recorded data (also in a later run after a crash). */
  resume?(data: Record<string, unknown>, context: TaskContext): Promise<void>;
  /** Seconds to wait after resuming (docker `wait_after_restart`). */
  waitAfterResumeSeconds?(config: Config): number;
}
