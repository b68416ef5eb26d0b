// restic/output.ts: what a list of snapshots says about the last complete one.

import { describe, expect, test } from "bun:test";
import { newestCompleteBehindPartials } from "../../../mod/restic/output.ts";

describe("newestCompleteBehindPartials", () => {
  /** Returns a snapshot at an hour of 2026-11-26 with tags, whatever order they are listed in. */
  const at = (hour: number, ...tags: string[]) => ({
    id: `s${hour}`,
    time: new Date(Date.UTC(2026, 10, 26, hour)),
    tags: ["backupctl", ...tags],
  });

  test("is the newest complete snapshot when the ones after it are partial", () => {
    const snapshots = [at(5, "partial"), at(1), at(2), at(4, "partial"), at(3, "partial")];
    expect(newestCompleteBehindPartials(snapshots)?.id).toBe("s2");
  });

  test("is nothing when the newest is complete, when all are partial, or when there are none", () => {
    expect(newestCompleteBehindPartials([at(1), at(2, "partial"), at(3)])).toBeUndefined();
    expect(newestCompleteBehindPartials([at(1, "partial"), at(2, "partial")])).toBeUndefined();
    expect(newestCompleteBehindPartials([])).toBeUndefined();
  });
});
