// The pull history: appended per attempt, read back oldest first, a torn line skipped, trimmed to the
// newest historyLimit once it grew well past it.

import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  appendPullHistory,
  historyLimit,
  hostHistoryPath,
  readPullHistory,
} from "../../../mod/server/history.ts";
import { historyTable } from "../../../mod/server/history-command.ts";
import type { PullAttempt } from "../../../mod/server/state.ts";

const stateDir = mkdtempSync(join(tmpdir(), "pull-history-test-"));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

/** Returns the n-th attempt: ok with sizes, or failed with an error. */
function attempt(index: number, status: "ok" | "failed" = "ok"): PullAttempt {
  return {
    status,
    started_at: new Date(Date.UTC(2026, 0, 1) + index * 86_400_000).toISOString(),
    finished_at: new Date(Date.UTC(2026, 0, 1) + index * 86_400_000 + 40_000).toISOString(),
    duration_ms: 40_000,
    ...(status === "ok"
      ? { archive: `web01-${index}.tar.gz`, archive_bytes: 5 * 1024 * 1024, snapshot_id: "4f3c2a1b9e8d7c6b" }
      : { error: "Cannot connect" }),
    warnings: [],
  };
}

describe("pull history", () => {
  test("attempts are appended and read back oldest first; a line torn by a crash is skipped", async () => {
    await appendPullHistory(stateDir, "web01", attempt(1));
    await appendPullHistory(stateDir, "web01", attempt(2, "failed"));
    // torn in the middle of a line: no newline at the end
    appendFileSync(hostHistoryPath(stateDir, "web01"), '{"status":"ok","started_at":"2026-');
    await appendPullHistory(stateDir, "web01", attempt(3));
    const history = await readPullHistory(stateDir, "web01");
    expect(history.map((entry) => entry.status)).toEqual(["ok", "failed", "ok"]);
    expect(history[2]).toEqual(attempt(3));
    expect(statSync(hostHistoryPath(stateDir, "web01")).mode & 0o777).toBe(0o600);
    expect(await readPullHistory(stateDir, "never")).toEqual([]);
  });

  test(`is trimmed to the newest ${historyLimit} attempts once it holds more than ${historyLimit + 100}`, async () => {
    for (let index = 0; index < historyLimit + 100; index++)
      await appendPullHistory(stateDir, "db01", attempt(index));
    expect(await readPullHistory(stateDir, "db01")).toHaveLength(historyLimit + 100);
    await appendPullHistory(stateDir, "db01", attempt(historyLimit + 100));
    const history = await readPullHistory(stateDir, "db01");
    expect(history).toHaveLength(historyLimit);
    expect(history.at(-1)).toEqual(attempt(historyLimit + 100));
    expect(history[0]).toEqual(attempt(101));
    expect(readFileSync(hostHistoryPath(stateDir, "db01"), "utf8").endsWith("\n")).toBe(true);
  });

  test("the table has a row per attempt with its result, sizes, duration, snapshot and error", () => {
    const lines = historyTable([attempt(1), attempt(2, "failed")]).split("\n");
    expect(lines[0]).toMatch(
      /^started \(UTC\)\s+status\s+archive\s+size\s+unpacked\s+new\s+changed\s+added\s+duration\s+snapshot\s+error/,
    );
    expect(lines[2]).toMatch(/^2026-01-02 00:00:00\s+ok\s+web01-1\.tar\.gz\s+5\.0 MiB\s+.*40s\s+4f3c2a1b/);
    expect(lines[3]).toMatch(/^2026-01-03 00:00:00\s+failed\s+.*40s\s+Cannot connect$/);
  });
});
