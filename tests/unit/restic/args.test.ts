import { describe, expect, test } from "bun:test";
import {
  formatResticTime,
  isValidReadDataSubset,
  resticBackupArgs,
  resticCheckArgs,
  resticForgetArgs,
  resticForgetSnapshotsArgs,
  resticInitArgs,
  resticRestoreArgs,
  resticSnapshotsArgs,
  resticStatsArgs,
  resticUnlockArgs,
} from "../../../mod/restic/args.ts";

const archiveTime = new Date("2026-11-26T03:04:05Z");

describe("resticBackupArgs", () => {
  const cases: [string, Parameters<typeof resticBackupArgs>, string[]][] = [
    [
      "a local repository with host, timestamp tag and archive time",
      ["/var/tmp/backupctl/web01/data", { host: "web01", tags: ["20261126_030405"], time: archiveTime }],
      [
        "backup",
        "--host=web01",
        "--tag=backupctl",
        "--tag=20261126_030405",
        "--time=2026-11-26 03:04:05",
        "--ignore-inode",
        "--ignore-ctime",
        "--json",
        "--",
        "/var/tmp/backupctl/web01/data",
      ],
    ],
    [
      "a partial archive and extra options from config",
      [
        "/data",
        {
          host: "db1",
          tags: ["20261126_030405", "partial"],
          extraOptions: ["--exclude-caches", "--limit-upload=1000"],
        },
      ],
      [
        "backup",
        "--host=db1",
        "--tag=backupctl",
        "--tag=20261126_030405",
        "--tag=partial",
        "--ignore-inode",
        "--ignore-ctime",
        "--json",
        "--exclude-caches",
        "--limit-upload=1000",
        "--",
        "/data",
      ],
    ],
    [
      "a host and a path that start with a dash stay values",
      ["-data", { host: "-x", tags: ["backupctl"] }],
      ["backup", "--host=-x", "--tag=backupctl", "--ignore-inode", "--ignore-ctime", "--json", "--", "-data"],
    ],
  ];
  for (const [name, input, expected] of cases) {
    test(name, () => expect(resticBackupArgs(...input)).toEqual(expected));
  }

  const refusals: [string, Parameters<typeof resticBackupArgs>, string][] = [
    ["a tag with a comma, which restic would split", ["/d", { host: "h", tags: ["a,b"] }], "without commas"],
    ["an empty tag", ["/d", { host: "h", tags: [""] }], "non-empty"],
    ["a tag with a newline", ["/d", { host: "h", tags: ["a\nb"] }], "whitespace"],
    ["an empty host", ["/d", { host: "" }], "host is empty"],
    ["an empty path", ["", { host: "h" }], "path is empty"],
  ];
  for (const [name, input, message] of refusals) {
    test(`refuses ${name}`, () => expect(() => resticBackupArgs(...input)).toThrow(message));
  }

  test("never carries a password", () => {
    const args = resticBackupArgs("/d", { host: "h" });
    expect(args.some((argument) => /password/i.test(argument))).toBe(false);
  });
});

describe("resticSnapshotsArgs", () => {
  const cases: [string, Parameters<typeof resticSnapshotsArgs>, string[]][] = [
    ["all snapshots", [], ["snapshots", "--json"]],
    ["one host", [{ host: "web01" }], ["snapshots", "--json", "--host=web01"]],
    [
      "tags that must all be present, without a lock",
      [{ host: "web01", tags: ["backupctl", "20261126_030405"], isLockFree: true }],
      ["--no-lock", "snapshots", "--json", "--host=web01", "--tag=backupctl,20261126_030405"],
    ],
  ];
  for (const [name, input, expected] of cases) {
    test(name, () => expect(resticSnapshotsArgs(...input)).toEqual(expected));
  }
});

describe("resticForgetArgs", () => {
  const cases: [string, Parameters<typeof resticForgetArgs>, string[]][] = [
    [
      "a structured policy with prune, grouped by host",
      [{ keep_daily: 7, keep_weekly: 4, keep_monthly: 6 }, { prune: true }],
      ["forget", "--group-by=host", "--keep-daily=7", "--keep-weekly=4", "--keep-monthly=6", "--prune"],
    ],
    [
      "every structured key, without prune",
      [
        {
          keep_last: 3,
          keep_hourly: 24,
          keep_daily: 7,
          keep_weekly: 4,
          keep_monthly: 12,
          keep_yearly: 2,
          keep_within: "30d",
          keep_tag: ["pinned", "release"],
        },
        { prune: false },
      ],
      [
        "forget",
        "--group-by=host",
        "--keep-last=3",
        "--keep-hourly=24",
        "--keep-daily=7",
        "--keep-weekly=4",
        "--keep-monthly=12",
        "--keep-yearly=2",
        "--keep-within=30d",
        "--keep-tag=pinned",
        "--keep-tag=release",
      ],
    ],
    [
      "a zero count is left out, as restic 0.14 reads 0 as unset",
      [{ keep_last: 0, keep_daily: 7 }, { prune: false }],
      ["forget", "--group-by=host", "--keep-daily=7"],
    ],
    [
      "a legacy option string split into argv",
      [["--keep-daily", "7", "--keep-weekly", "4"], { prune: true }],
      ["forget", "--group-by=host", "--keep-daily", "7", "--keep-weekly", "4", "--prune"],
    ],
    [
      "a legacy --prune gives way to prune: false",
      [["--keep-last", "5", "--prune"], { prune: false }],
      ["forget", "--group-by=host", "--keep-last", "5"],
    ],
    [
      "another grouping",
      [{ keep_last: 1 }, { prune: false, groupBy: "host,paths" }],
      ["forget", "--group-by=host,paths", "--keep-last=1"],
    ],
  ];
  for (const [name, input, expected] of cases) {
    test(name, () => expect(resticForgetArgs(...input)).toEqual(expected));
  }

  const refusals: [string, Parameters<typeof resticForgetArgs>, string][] = [
    ["an empty policy", [{}, { prune: true }], "keeps nothing"],
    ["a negative count", [{ keep_last: -1 }, { prune: true }], "not a whole number"],
    ["a fractional count", [{ keep_daily: 1.5 }, { prune: true }], "not a whole number"],
    ["a malformed keep_within", [{ keep_within: "30 days" }, { prune: true }], "not a duration"],
    ["a legacy string without any --keep", [["--compact"], { prune: true }], "keep nothing"],
    [
      "a legacy string naming another repository",
      [["--keep-last", "1", "--repo=/other"], { prune: true }],
      "--repo=/other",
    ],
    [
      "a legacy host filter",
      [["--keep-last", "1", "--host", "x"], { prune: true }],
      "not a retention option",
    ],
    [
      "a legacy password file",
      [["-l", "1", "--password-file=/x"], { prune: true }],
      "not a retention option",
    ],
  ];
  for (const [name, input, message] of refusals) {
    test(`refuses ${name}`, () => expect(() => resticForgetArgs(...input)).toThrow(message));
  }
});

describe("resticCheckArgs", () => {
  const cases: [string, Parameters<typeof resticCheckArgs>, string[]][] = [
    ["a structural check", [], ["check"]],
    ["a rotating subset", [{ readDataSubset: "2/7" }], ["check", "--read-data-subset=2/7"]],
    [
      "check_options and a percentage",
      [{ options: ["--with-cache"], readDataSubset: "10%" }],
      ["check", "--with-cache", "--read-data-subset=10%"],
    ],
  ];
  for (const [name, input, expected] of cases) {
    test(name, () => expect(resticCheckArgs(...input)).toEqual(expected));
  }

  for (const subset of ["0/3", "4/3", "1/0", "-1/3", "all", "1/3 --read-data"]) {
    test(`refuses the subset "${subset}"`, () =>
      expect(() => resticCheckArgs({ readDataSubset: subset })).toThrow());
  }
});

describe("the remaining builders", () => {
  const cases: [string, () => string[], string[]][] = [
    ["init", () => resticInitArgs(), ["init"]],
    ["unlock removes stale locks only", () => resticUnlockArgs(), ["unlock"]],
    ["stats of everything", () => resticStatsArgs(), ["--no-lock", "stats", "--json"]],
    [
      "stats of a host's latest snapshot in raw-data mode",
      () => resticStatsArgs({ mode: "raw-data", host: "web01", snapshot: "latest" }),
      ["--no-lock", "stats", "--json", "--mode=raw-data", "--host=web01", "--", "latest"],
    ],
    [
      "restore of the latest snapshot of a host",
      () => resticRestoreArgs("latest", "/restore", { host: "web01" }),
      ["restore", "--target=/restore", "--host=web01", "--", "latest"],
    ],
    [
      "restore of one service of a snapshot",
      () => resticRestoreArgs("b02722e1", "/restore", { include: ["/data/compose/app"] }),
      ["restore", "--target=/restore", "--include=/data/compose/app", "--", "b02722e1"],
    ],
  ];
  for (const [name, build, expected] of cases) {
    test(name, () => expect(build()).toEqual(expected));
  }

  test("unlock never removes live locks", () => {
    expect(resticUnlockArgs()).not.toContain("--remove-all");
  });

  test("forget of snapshots by id, pruned when asked; nothing or a non-id is refused", () => {
    const id = "b02722e1".repeat(8);
    expect(resticForgetSnapshotsArgs([id, "4f3c2a1b"], { prune: true })).toEqual([
      "forget",
      "--prune",
      "--",
      id,
      "4f3c2a1b",
    ]);
    expect(resticForgetSnapshotsArgs([id], { prune: false })).toEqual(["forget", "--", id]);
    expect(() => resticForgetSnapshotsArgs([], { prune: true })).toThrow("no snapshot to forget");
    expect(() => resticForgetSnapshotsArgs(["latest"], { prune: true })).toThrow(
      '"latest" is not a snapshot id',
    );
    expect(() => resticForgetSnapshotsArgs(["--keep-last=1"], { prune: true })).toThrow(
      "is not a snapshot id",
    );
  });
});

describe("formatResticTime and isValidReadDataSubset", () => {
  test("formats the archive time in UTC as restic's --time wants it", () => {
    expect(formatResticTime(new Date("2026-01-02T23:59:58.900Z"))).toBe("2026-01-02 23:59:58");
    expect(() => formatResticTime(new Date("nonsense"))).toThrow(RangeError);
  });

  const subsets: [string, boolean][] = [
    ["1/3", true],
    ["3/3", true],
    ["0/3", false],
    ["4/3", false],
    ["12.5%", true],
    ["500M", true],
    ["1024", true],
    ["", false],
    ["1/3/4", false],
  ];
  for (const [subset, isValid] of subsets) {
    test(`"${subset}" is ${isValid ? "" : "not "}a valid subset`, () =>
      expect(isValidReadDataSubset(subset)).toBe(isValid));
  }
});
