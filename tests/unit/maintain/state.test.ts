import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type MaintainRun,
  maintainStatePath,
  nextMaintainState,
  readMaintainState,
  storedNextPart,
  writeMaintainState,
} from "../../../mod/maintain/state.ts";

/** Returns a run with the given status. */
function run(status: MaintainRun["status"], startedAt: string): MaintainRun {
  return {
    status,
    started_at: startedAt,
    finished_at: startedAt.replace(":00Z", ":30Z"),
    duration_ms: 30_000,
    repository: "/srv/restic/web01",
    forget: "done",
    pruned: true,
    checked: status !== "failed",
    warnings: [],
  };
}

describe("nextMaintainState", () => {
  test("a success records its time and clears failing_since", () => {
    const previous = { host: "web01", failing_since: "2026-11-20T02:00:00Z" };
    const next = nextMaintainState(previous, { run: run("ok", "2026-11-21T02:00:00Z") });
    expect(next.last_success).toBe("2026-11-21T02:00:30Z");
    expect(next.failing_since).toBeUndefined();
  });

  test("repeated failures keep the time the first one began, and the last success", () => {
    const first = nextMaintainState(
      { host: "web01", last_success: "2026-11-19T02:00:30Z" },
      { run: run("failed", "2026-11-20T02:00:00Z") },
    );
    const second = nextMaintainState(first, { run: run("failed", "2026-11-21T02:00:00Z") });
    expect(second.failing_since).toBe("2026-11-20T02:00:00Z");
    expect(second.last_success).toBe("2026-11-19T02:00:30Z");
  });

  test("a warning is no failure", () => {
    expect(
      nextMaintainState({ host: "web01" }, { run: run("warning", "2026-11-21T02:00:00Z") }).failing_since,
    ).toBe(undefined);
  });

  test("the counter is replaced by a new one and kept when the run gives none", () => {
    const withCounter = nextMaintainState(
      { host: "web01" },
      {
        run: run("ok", "2026-11-21T02:00:00Z"),
        counter: {
          configured: "1/3",
          next_part: 2,
        },
      },
    );
    const kept = nextMaintainState(withCounter, { run: run("failed", "2026-11-22T02:00:00Z") });
    expect(kept.read_data_subset).toEqual({ configured: "1/3", next_part: 2 });
  });
});

describe("storedNextPart", () => {
  const state = { host: "web01", read_data_subset: { configured: "1/7", next_part: 5 } };
  test("is the stored part for the same total", () => expect(storedNextPart(state, "2/7")).toBe(5));
  test("starts again when the total changed", () => expect(storedNextPart(state, "1/3")).toBeUndefined());
  test("is nothing without a configured subset", () =>
    expect(storedNextPart(state, undefined)).toBeUndefined());
});

describe("maintain state file", () => {
  const stateDir = mkdtempSync(join(tmpdir(), "backupctl-maintain-state-"));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  test("is written atomically as <state_dir>/server/maintain/<host>.json, 0600, and read back", async () => {
    expect(await readMaintainState(stateDir, "web01")).toEqual({ host: "web01" });
    const state = nextMaintainState(
      { host: "web01" },
      {
        run: run("ok", "2026-11-21T02:00:00Z"),
        counter: {
          configured: "1/3",
          next_part: 2,
        },
      },
    );
    await writeMaintainState(stateDir, state);
    expect(maintainStatePath(stateDir, "web01")).toBe(join(stateDir, "server", "maintain", "web01.json"));
    expect(statSync(maintainStatePath(stateDir, "web01")).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(stateDir, "server", "maintain"))).toEqual(["web01.json"]);
    expect(await readMaintainState(stateDir, "web01")).toEqual(state);
  });
});
