// The server's pull history (DESIGN §7.7 keeps only the last attempt and success per host): one JSON
// line per pull attempt in `<state_dir>/server/history/<host>.jsonl`, the newest last, so trends —
// sizes, durations, a run of failures — can be read back with `backupctl server history HOST`.
// Appended with O_APPEND; once it holds well over historyLimit lines it is rewritten atomically with
// the newest historyLimit. A line torn by a crash is skipped when reading.

import { appendFile, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/atomic.ts";
import { errnoCode } from "../lib/errors.ts";
import type { PullAttempt } from "./state.ts";

/** Attempts kept per host: more than a year of nightly pulls. */
export const historyLimit = 400;
/** Lines beyond historyLimit tolerated before the file is trimmed, so it is not rewritten every night. */
const trimSlack = 100;

/** Returns the history file of a host. */
export function hostHistoryPath(stateDir: string, host: string): string {
  return join(stateDir, "server", "history", `${host}.jsonl`);
}

/** Returns the attempts of a history file's text, oldest first, skipping lines that are not whole attempts. */
function parseHistory(text: string): PullAttempt[] {
  return text.split("\n").flatMap((line) => {
    if (line.trim() === "") return [];
    try {
      const attempt = JSON.parse(line) as PullAttempt;
      return typeof attempt?.status === "string" && typeof attempt.started_at === "string" ? [attempt] : [];
    } catch {
      return [];
    }
  });
}

/** Returns the text of a host's history file, empty when there is none. Throws when it cannot be read. */
async function readHistoryText(stateDir: string, host: string): Promise<string> {
  try {
    return await readFile(hostHistoryPath(stateDir, host), "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return "";
    throw error;
  }
}

/** Reads a host's recorded attempts, oldest first; an absent file is an empty history. Throws when it cannot be read. */
export async function readPullHistory(stateDir: string, host: string): Promise<PullAttempt[]> {
  return parseHistory(await readHistoryText(stateDir, host));
}

/** Appends an attempt to a host's history and trims it to the newest historyLimit when it grew well past that. Throws when it cannot be written. */
export async function appendPullHistory(stateDir: string, host: string, attempt: PullAttempt): Promise<void> {
  const path = hostHistoryPath(stateDir, host);
  await mkdir(join(stateDir, "server", "history"), { recursive: true, mode: 0o700 });
  const existing = await readHistoryText(stateDir, host);
  // a line torn by a crash ends without a newline: the new one must not be glued to it
  const separator = existing === "" || existing.endsWith("\n") ? "" : "\n";
  await appendFile(path, `${separator}${JSON.stringify(attempt)}\n`, { mode: 0o600 });
  const attempts = [...parseHistory(existing), attempt];
  if (attempts.length <= historyLimit + trimSlack) return;
  const kept = attempts.slice(-historyLimit);
  await writeFileAtomic(path, kept.map((entry) => `${JSON.stringify(entry)}\n`).join(""), { mode: 0o600 });
}
