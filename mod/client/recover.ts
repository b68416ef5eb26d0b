// Recovery at the start of a run: what an earlier run stopped and could not start again (it was
// killed with SIGKILL, or the start failed) is started now, from the records it wrote before stopping.

import { findPlugin } from "../../plugins/registry.ts";
import type { ToolCommands } from "../../plugins/types.ts";
import { errorMessage } from "../lib/errors.ts";
import { run } from "../lib/exec.ts";
import type { Logger } from "../lib/log.ts";
import { readQuiesceRecords, removeQuiesceRecord } from "./quiesce-records.ts";

/** Starts everything earlier runs left stopped; failures are logged and their records kept for the next run. */
export async function resumeLeftoverQuiesce(options: {
  stateDir: string;
  tools: ToolCommands;
  pluginDir: string;
  logger: Logger;
  isDryRun: boolean;
}): Promise<number> {
  let resumed = 0;
  for (const record of await readQuiesceRecords(options.stateDir, options.logger)) {
    const logger = options.logger.child(`${record.serviceType}/${record.serviceName}`);
    logger.warn(
      `An earlier run (pid ${record.pid}, ${record.recordedAt}) stopped "${record.taskKey}" and did not start it again: starting it now`,
    );
    const plugin = findPlugin(record.taskKey, options.pluginDir);
    if (!plugin?.resume) {
      logger.error(
        `Cannot resume "${record.taskKey}": no plugin with a resume step; start it by hand and delete the record`,
      );
      continue;
    }
    const signal = AbortSignal.timeout(10 * 60 * 1000);
    try {
      await plugin.resume(record.data, {
        service: { type: record.serviceType, name: record.serviceName, file: "", directory: "" },
        taskKey: record.taskKey,
        outputDir: "",
        logger,
        isDryRun: options.isDryRun,
        signal,
        tools: options.tools,
        run: (argv, runOptions = {}) =>
          run(argv, { logger, signal, isDryRun: options.isDryRun, ...runOptions }),
      });
      if (!options.isDryRun) await removeQuiesceRecord(options.stateDir, record);
      resumed++;
    } catch (error) {
      logger.error(`Cannot start "${record.taskKey}" again: ${errorMessage(error)} (the next run retries)`);
    }
  }
  return resumed;
}
