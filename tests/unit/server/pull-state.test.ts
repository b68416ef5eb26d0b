// The server's record of a host's pulls: the run of failures an attempt continues or ends, and the
// mails that tell the administrator about it.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { HostPullResult } from "../../../mod/server/host-pull.ts";
import { formatStreak, recoveryMail } from "../../../mod/server/report.ts";
import {
  hostStatePath,
  type PullAttempt,
  type PullStatus,
  readHostState,
  recordPullAttempt,
} from "../../../mod/server/state.ts";

const stateDir = mkdtempSync(join(tmpdir(), "pull-state-test-"));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

/** Returns an attempt with the given status that started at startedAt. */
function attempt(status: PullStatus, startedAt: string): PullAttempt {
  return {
    status,
    started_at: startedAt,
    finished_at: startedAt.replace(":00Z", ":40Z"),
    duration_ms: 40_000,
    ...(status === "ok" ? { archive: "web01-20261127_020000.tar.gz", snapshot_id: "4f3c2a1b" } : {}),
    ...(status === "failed" ? { error: "Cannot connect" } : {}),
    warnings: [],
  };
}

describe("recordPullAttempt", () => {
  test("counts failed and skipped pulls in a row from the first one, and a success ends the run as recovered", async () => {
    const first = await recordPullAttempt(stateDir, "web01", attempt("ok", "2026-11-24T02:00:00Z"));
    expect(first).toEqual({});

    const failed = await recordPullAttempt(stateDir, "web01", attempt("failed", "2026-11-25T02:00:00Z"));
    expect(failed).toEqual({
      failing: { since: "2026-11-25T02:00:00Z", attempts: 1 },
      previousSuccessAt: "2026-11-24T02:00:40Z",
    });
    const locked = await recordPullAttempt(stateDir, "web01", attempt("locked", "2026-11-26T02:00:00Z"));
    expect(locked.failing).toEqual({ since: "2026-11-25T02:00:00Z", attempts: 2 });
    const again = await recordPullAttempt(stateDir, "web01", attempt("failed", "2026-11-27T02:00:00Z"));
    expect(again.failing).toEqual({ since: "2026-11-25T02:00:00Z", attempts: 3 });
    expect(await readHostState(stateDir, "web01")).toMatchObject({
      failing_since: "2026-11-25T02:00:00Z",
      failed_attempts: 3,
    });

    const recovered = await recordPullAttempt(stateDir, "web01", attempt("ok", "2026-11-28T02:00:00Z"));
    expect(recovered).toEqual({
      recovered: { since: "2026-11-25T02:00:00Z", attempts: 3 },
      previousSuccessAt: "2026-11-24T02:00:40Z",
    });
    const state = await readHostState(stateDir, "web01");
    expect(state.failing_since).toBeUndefined();
    expect(state.failed_attempts).toBeUndefined();

    // healthy again: the next success recovers from nothing
    expect(
      (await recordPullAttempt(stateDir, "web01", attempt("up-to-date", "2026-11-29T02:00:00Z"))).recovered,
    ).toBeUndefined();
  });

  test("a host that never succeeded has no last snapshot; up-to-date after failures is a recovery", async () => {
    const failed = await recordPullAttempt(stateDir, "new01", attempt("failed", "2026-11-25T02:00:00Z"));
    expect(failed).toEqual({ failing: { since: "2026-11-25T02:00:00Z", attempts: 1 } });
    const upToDate = await recordPullAttempt(
      stateDir,
      "new01",
      attempt("up-to-date", "2026-11-26T02:00:00Z"),
    );
    expect(upToDate.recovered).toEqual({ since: "2026-11-25T02:00:00Z", attempts: 1 });
  });

  test("a run of failures recorded without a count (an older version) keeps its start and no count", async () => {
    const path = hostStatePath(stateDir, "old01");
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify({ host: "old01", failing_since: "2026-11-20T02:00:00Z" }));
    const failed = await recordPullAttempt(stateDir, "old01", attempt("failed", "2026-11-25T02:00:00Z"));
    expect(failed.failing).toEqual({ since: "2026-11-20T02:00:00Z" });
    expect(JSON.parse(readFileSync(path, "utf8")).failed_attempts).toBeUndefined();
    const recovered = await recordPullAttempt(stateDir, "old01", attempt("ok", "2026-11-26T02:00:00Z"));
    expect(recovered.recovered).toEqual({ since: "2026-11-20T02:00:00Z" });
  });
});

describe("the mails of a run of failures", () => {
  const now = new Date("2026-11-28T02:00:40Z");

  test("formatStreak names the start, its age and the count", () => {
    expect(formatStreak({ since: "2026-11-25T02:00:00Z", attempts: 3 }, now)).toBe(
      "since 2026-11-25T02:00:00Z (3d ago), 3 pulls in a row",
    );
    expect(formatStreak({ since: "2026-11-28T02:00:00Z", attempts: 1 }, now)).toBe(
      "since 2026-11-28T02:00:00Z (40s ago), 1 pull",
    );
    expect(formatStreak({ since: "2026-11-25T02:00:00Z" }, now)).toBe("since 2026-11-25T02:00:00Z (3d ago)");
  });

  test("the recovery mail names the host, the run it ended and what was stored", () => {
    const result: HostPullResult = {
      host: "web01",
      attempt: attempt("ok", "2026-11-28T02:00:00Z"),
      alerts: [],
      record: { recovered: { since: "2026-11-25T02:00:00Z", attempts: 3 } },
    };
    const mail = recoveryMail(
      result,
      { since: "2026-11-25T02:00:00Z", attempts: 3 },
      { server: "backup1", now },
    );
    expect(mail.subject).toBe("web01 - Backup RECOVERED (server backup1)");
    expect(mail.text).toBe(
      [
        "Host: web01",
        "Result: ok",
        "Failed since 2026-11-25T02:00:00Z (3d ago), 3 pulls in a row, until this pull",
        "Archive: web01-20261127_020000.tar.gz",
        "Snapshot: 4f3c2a1b",
      ].join("\n"),
    );
  });
});
