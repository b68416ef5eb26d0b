import { describe, expect, test } from "bun:test";
import {
  effectiveMaintenance,
  type Maintenance,
  maintenanceSchema,
} from "../../../mod/config/maintenance.ts";
import { BackupError } from "../../../mod/lib/errors.ts";
import {
  forgetSkipReason,
  maintainCheckArgs,
  maintainForgetArgs,
  newestSnapshotTime,
  retentionPolicyOf,
} from "../../../mod/maintain/plan.ts";

/** Returns the effective maintenance of a global block and an optional host override, as config resolves it. */
function maintenance(global: Record<string, unknown>, override?: Record<string, unknown>): Maintenance {
  return effectiveMaintenance(maintenanceSchema.parse(global), override as never);
}

describe("maintainForgetArgs", () => {
  const cases: [string, Maintenance, boolean, string[]][] = [
    [
      "the default policy, pruned",
      maintenance({}),
      false,
      [
        "--keep-daily=7",
        "--keep-weekly=4",
        "--keep-monthly=12",
        "--keep-yearly=3",
        "--prune",
        "--host=web01",
        "--json",
      ],
    ],
    [
      "the global keep_last",
      maintenance({ keep_last: 3 }),
      false,
      ["--keep-last=3", "--prune", "--host=web01", "--json"],
    ],
    [
      "a host's policy replaces the global one as a whole",
      maintenance({ keep_last: 3, keep_daily: 7 }, { keep_last: 5 }),
      false,
      ["--keep-last=5", "--prune", "--host=web01", "--json"],
    ],
    [
      "prune: false forgets without --prune",
      maintenance({ keep_last: 3, prune: false }),
      false,
      ["--keep-last=3", "--host=web01", "--json"],
    ],
    [
      "a host's prune: false overrides the global true",
      maintenance({ keep_last: 3 }, { prune: false }),
      false,
      ["--keep-last=3", "--host=web01", "--json"],
    ],
    [
      "keep_within and keep_tag",
      maintenance({ keep_within: "14d", keep_tag: ["keep", "release"] }),
      false,
      ["--keep-within=14d", "--keep-tag=keep", "--keep-tag=release", "--prune", "--host=web01", "--json"],
    ],
    [
      "the original's option string, without the --prune it may hold",
      maintenance({ forget_options: "--keep-daily 7 --keep-weekly 4 --prune" }),
      false,
      ["--keep-daily", "7", "--keep-weekly", "4", "--prune", "--host=web01", "--json"],
    ],
    [
      "dry run lists without a lock",
      maintenance({ keep_last: 3 }),
      true,
      ["--keep-last=3", "--prune", "--host=web01", "--json", "--dry-run", "--no-lock"],
    ],
  ];
  for (const [name, settings, isDryRun, expected] of cases) {
    test(name, () => {
      expect(maintainForgetArgs(settings, { host: "web01", isDryRun })).toEqual([
        "forget",
        "--group-by=host",
        ...expected,
      ]);
    });
  }

  test("a legacy option string that would point restic elsewhere is refused", () => {
    const settings = maintenance({ forget_options: "--keep-daily 7 --repo /elsewhere" });
    expect(() => maintainForgetArgs(settings, { host: "web01", isDryRun: false })).toThrow(BackupError);
  });
});

describe("retentionPolicyOf", () => {
  test("takes only the keep_* keys of a maintenance block", () => {
    expect(retentionPolicyOf(maintenance({ keep_last: 2, keep_tag: "x", check: false }))).toEqual({
      keep_last: 2,
      keep_tag: ["x"],
    });
  });
});

describe("maintainCheckArgs", () => {
  const cases: [string, Maintenance, string | undefined, string[]][] = [
    ["a plain check", maintenance({}), undefined, ["check"]],
    [
      "check_options first",
      maintenance({ check_options: "--with-cache" }),
      undefined,
      ["check", "--with-cache"],
    ],
    [
      "this run's subset",
      maintenance({ read_data_subset: "1/3" }),
      "2/3",
      ["check", "--read-data-subset=2/3"],
    ],
  ];
  for (const [name, settings, subset, expected] of cases) {
    test(name, () => {
      expect(maintainCheckArgs(settings, subset === undefined ? {} : { readDataSubset: subset })).toEqual(
        expected,
      );
    });
  }
});

describe("forgetSkipReason", () => {
  const now = new Date("2026-11-26T12:00:00Z");
  const hour = 3_600_000;
  const at = (hoursAgo: number) => ({ time: new Date(now.getTime() - hoursAgo * hour) });
  const cases: [string, { time: Date }[], string | undefined][] = [
    ["no snapshots: nothing to forget", [], "no-snapshots"],
    ["a newest snapshot within max_age: forget runs", [at(100), at(2)], undefined],
    ["exactly max_age old still counts as current", [at(36)], undefined],
    ["a newest snapshot older than max_age: the host is not thinned out", [at(200), at(37)], "stale"],
  ];
  for (const [name, snapshots, expected] of cases) {
    test(name, () =>
      expect(forgetSkipReason(snapshots, { maxAgeMs: 36 * hour, now })).toBe(expected as never),
    );
  }

  test("the newest snapshot is found whatever the order", () => {
    expect(newestSnapshotTime([at(5), at(1), at(9)])).toEqual(at(1).time);
  });
});
