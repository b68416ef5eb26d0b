import { describe, expect, test } from "bun:test";
import { dumpSizeAlerts, serviceSizeAlerts, serviceSizes } from "../../../mod/client/size-alerts.ts";

describe("dumpSizeAlerts", () => {
  test("a dump that fell below half its last size raises an alert naming it and both sizes", () => {
    const alerts = dumpSizeAlerts(
      { "db/shop/databases/shop.sql": 200_000 },
      { "db/shop/databases/shop.sql": 1_500 },
    );
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toContain("db/shop/databases/shop.sql shrank from 200000 to 1500 bytes");
  });

  test.each([
    ["no previous run", undefined, { "a/b/databases/x.sql": 10 }],
    ["a new dump", { "a/b/databases/y.sql": 100_000 }, { "a/b/databases/x.sql": 10 }],
    ["a moderate shrink", { "a/b/databases/x.sql": 100_000 }, { "a/b/databases/x.sql": 60_000 }],
    ["growth", { "a/b/databases/x.sql": 100_000 }, { "a/b/databases/x.sql": 900_000 }],
    ["a tiny previous dump", { "a/b/databases/x.sql": 8_000 }, { "a/b/databases/x.sql": 100 }],
  ])("no alert for %s", (_case, previous, current) => {
    expect(dumpSizeAlerts(previous, current)).toEqual([]);
  });
});

describe("serviceSizeAlerts", () => {
  const mib = 1024 * 1024;

  test("a service that lost more than half its bytes or its files raises an alert naming it and both sizes", () => {
    const previous = {
      "files/www": { files: 48_210, bytes: 12 * 1024 * mib },
      "files/etc": { files: 300, bytes: 2 * mib },
    };
    const alerts = serviceSizeAlerts(previous, {
      "files/www": { files: 0, bytes: 0 },
      "files/etc": { files: 120, bytes: 1.9 * mib },
    });
    expect(alerts).toEqual([
      "the service files/www staged 0 B in 0 files, less than half of the last run's 12.0 GiB in 48210 files: check that its sources are mounted and complete",
      "the service files/etc staged 1.9 MiB in 120 files, less than half of the last run's 2.0 MiB in 300 files: check that its sources are mounted and complete",
    ]);
  });

  test.each([
    ["no previous run", undefined, { "a/b": { files: 0, bytes: 0 } }],
    ["a new service", { "a/c": { files: 500, bytes: 50 * mib } }, { "a/b": { files: 0, bytes: 0 } }],
    [
      "a moderate shrink",
      { "a/b": { files: 500, bytes: 50 * mib } },
      { "a/b": { files: 300, bytes: 30 * mib } },
    ],
    ["a small service", { "a/b": { files: 40, bytes: 512 * 1024 } }, { "a/b": { files: 1, bytes: 10 } }],
  ])("no alert for %s", (_case, previous, current) => {
    expect(serviceSizeAlerts(previous, current)).toEqual([]);
  });

  test("serviceSizes keeps the services that succeeded, keyed type/name", () => {
    const service = (name: string, status: "ok" | "failed") => ({
      type: "files",
      name,
      status,
      duration_ms: 1,
      files: 3,
      bytes: 30,
      tasks: [],
    });
    expect(serviceSizes([service("www", "ok"), service("broken", "failed")])).toEqual({
      "files/www": { files: 3, bytes: 30 },
    });
  });
});
