// Test helper: a TaskContext as the lifecycle builds it (mod/client/service-run.ts), with tools from
// the config defaults overridable per test and the log lines kept for assertions.

import { join } from "node:path";
import { type Tools, toolsSchema } from "../../../mod/config/tools.ts";
import { run } from "../../../mod/lib/exec.ts";
import { getLogLevel, Logger, type LogSink, setLogLevel, setLogSink } from "../../../mod/lib/log.ts";
import type { TaskContext } from "../../../plugins/types.ts";

/** Options of testContext. */
export interface TestContextOptions {
  tools?: Partial<Tools>;
  isDryRun?: boolean;
  taskKey?: string;
  signal?: AbortSignal;
}

/** Returns a context whose service web/shop stages into `<stagingRoot>/web/shop`. */
export function testContext(stagingRoot: string, options: TestContextOptions = {}): TaskContext {
  const logger = new Logger("test").child(options.taskKey ?? "task");
  const isDryRun = options.isDryRun ?? false;
  const signal = options.signal ?? new AbortController().signal;
  return {
    service: {
      type: "web",
      name: "shop",
      file: "/etc/backup/web/shop/service.yaml",
      directory: "/etc/backup/web/shop",
    },
    taskKey: options.taskKey ?? "task",
    outputDir: join(stagingRoot, "web", "shop"),
    logger,
    isDryRun,
    signal,
    tools: { ...toolsSchema.parse({}), ...options.tools },
    run: (argv, runOptions = {}) => run(argv, { logger, signal, isDryRun, ...runOptions }),
  };
}

/** Captures every log line, debug included, until the returned function is called, which restores the logger and returns them. */
export function captureLog(): () => string[] {
  const lines: string[] = [];
  const sink: LogSink = { write: (line) => lines.push(line) };
  const level = getLogLevel();
  setLogSink(sink);
  setLogLevel("debug");
  return () => {
    setLogSink(undefined);
    setLogLevel(level);
    return lines;
  };
}
