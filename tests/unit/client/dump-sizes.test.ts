import { describe, expect, test } from "bun:test";
import { dumpSizeAlerts } from "../../../mod/client/dump-sizes.ts";

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
