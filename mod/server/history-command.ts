// `backupctl server history HOST`: the host's recorded pull attempts (server/history.ts), newest
// last, as a table or JSON. Reads only the state directory: no SSH, no repository.

import { log, setLogLevel } from "../lib/log.ts";
import { formatBytes } from "../lib/size.ts";
import { formatDuration } from "../lib/time.ts";
import { formatTable } from "../notify/format.ts";
import { hostHistoryPath, readPullHistory } from "./history.ts";
import { loadServerSettings, selectHosts } from "./pull.ts";
import type { PullAttempt } from "./state.ts";

/** Options of `server history`. */
export interface ServerHistoryOptions {
  configDir: string;
  host: string;
  /** Most attempts shown, the newest (default 30). */
  limit: number;
  json: boolean;
  hasExplicitLogLevel: boolean;
}

/** Builds the history table, one row per attempt, oldest first. */
export function historyTable(attempts: readonly PullAttempt[]): string {
  return formatTable(
    [
      { header: "started (UTC)" },
      { header: "status" },
      { header: "archive" },
      { header: "size", align: "right" },
      { header: "unpacked", align: "right" },
      { header: "new", align: "right" },
      { header: "changed", align: "right" },
      { header: "added", align: "right" },
      { header: "duration", align: "right" },
      { header: "snapshot" },
      { header: "error", maxWidth: 80 },
    ],
    attempts.map((attempt) => [
      attempt.started_at.slice(0, 19).replace("T", " "),
      attempt.status,
      attempt.archive ?? "",
      formatBytes(attempt.archive_bytes),
      formatBytes(attempt.unpacked_bytes),
      attempt.files_new,
      attempt.files_changed,
      formatBytes(attempt.bytes_added),
      formatDuration(attempt.duration_ms),
      attempt.snapshot_id?.slice(0, 8) ?? "",
      attempt.error ?? attempt.warnings[0] ?? "",
    ]),
  );
}

/** Runs `server history` and returns 0. Throws BackupError (usage) for an unknown host. */
export async function runServerHistory(
  options: ServerHistoryOptions,
  output: { stdout(text: string): void },
): Promise<number> {
  const logger = log.child("history");
  const config = loadServerSettings(options.configDir, logger);
  if (!options.hasExplicitLogLevel) setLogLevel(config.global.log_level);
  const [host] = selectHosts(config, [options.host]);
  const hostname = host?.hostname ?? options.host;
  const attempts = (await readPullHistory(config.global.state_dir, hostname)).slice(-options.limit);
  if (options.json) {
    output.stdout(`${JSON.stringify(attempts, null, 2)}\n`);
    return 0;
  }
  if (attempts.length === 0) {
    logger.info(
      `No pull of "${hostname}" is recorded yet (${hostHistoryPath(config.global.state_dir, hostname)})`,
    );
    return 0;
  }
  output.stdout(`${historyTable(attempts)}\n`);
  return 0;
}
