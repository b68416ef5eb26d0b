// Records of what a run stopped (docker stacks), written before anything is stopped. A run that is
// killed with SIGKILL cannot resume what it stopped; the next run finds its records and does.

import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeJsonAtomic } from "../lib/atomic.ts";
import { errorMessage } from "../lib/errors.ts";
import { readDirectoryNames } from "../lib/fs.ts";
import type { Logger } from "../lib/log.ts";

/** One stopped thing: which service and task stopped it, and what the plugin needs to resume it. */
export interface QuiesceRecordFile {
  serviceType: string;
  serviceName: string;
  taskKey: string;
  pid: number;
  recordedAt: string;
  data: Record<string, unknown>;
}

/** Returns the directory of the records under the client's state dir. */
export function quiesceRecordDir(stateDir: string): string {
  return join(stateDir, "client", "quiesced");
}

/** Returns the record path of one service task. */
function recordPath(stateDir: string, serviceType: string, serviceName: string, taskKey: string): string {
  // the three parts are validated names ([A-Za-z0-9._-]), so "--" cannot be ambiguous with a leading "-"
  return join(quiesceRecordDir(stateDir), `${serviceType}--${serviceName}--${taskKey}.json`);
}

/** Writes (atomically, fsynced) the record of what is about to be stopped. */
export async function writeQuiesceRecord(stateDir: string, record: QuiesceRecordFile): Promise<void> {
  await mkdir(quiesceRecordDir(stateDir), { recursive: true, mode: 0o700 });
  await writeJsonAtomic(recordPath(stateDir, record.serviceType, record.serviceName, record.taskKey), record);
}

/** Removes a record once what it names runs again. */
export async function removeQuiesceRecord(
  stateDir: string,
  record: Pick<QuiesceRecordFile, "serviceType" | "serviceName" | "taskKey">,
): Promise<void> {
  await rm(recordPath(stateDir, record.serviceType, record.serviceName, record.taskKey), { force: true });
}

/** Reads every record left by earlier runs; unreadable ones are logged and skipped. */
export async function readQuiesceRecords(stateDir: string, logger: Logger): Promise<QuiesceRecordFile[]> {
  const directory = quiesceRecordDir(stateDir);
  const names = (await readDirectoryNames(directory)).filter((name) => name.endsWith(".json")).sort();
  const records: QuiesceRecordFile[] = [];
  for (const name of names) {
    try {
      records.push(JSON.parse(await readFile(join(directory, name), "utf8")) as QuiesceRecordFile);
    } catch (error) {
      logger.error(
        `Cannot read the stop record "${join(directory, name)}": ${errorMessage(error)} (check what it stopped by hand, then delete it)`,
      );
    }
  }
  return records;
}
