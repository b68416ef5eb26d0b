import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listArchives, pruneArchives, removeLeftovers } from "../../../mod/client/prune.ts";
import { Logger } from "../../../mod/lib/log.ts";

let base: string;
const logger = new Logger("test");
const now = new Date(Date.UTC(2026, 10, 26, 12, 0, 0));

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), "prune-"));
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

/** Creates empty files in base. */
function touch(...names: string[]): void {
  for (const name of names) writeFileSync(join(base, name), "");
}

describe("pruning staged archives", () => {
  test("deletes this host's archives older than keep_days with their sidecars, by the name's timestamp", async () => {
    touch(
      "web01-20261101_000000.tar.gz",
      "web01-20261101_000000.tar.gz.sha256",
      "web01-20261125_000000.tar.zst",
      "web01-20261126_000000.tar.gz",
      "web02-20261101_000000.tar.gz",
      "web01-notatime.tar.gz",
      "web01-20261399_000000.tar.gz",
    );
    const pruned = await pruneArchives(base, {
      hostname: "web01",
      keepDays: 7,
      now,
      logger,
      isDryRun: false,
    });
    expect(pruned).toEqual(["web01-20261101_000000.tar.gz"]);
    expect(readdirSync(base).sort()).toEqual([
      "web01-20261125_000000.tar.zst",
      "web01-20261126_000000.tar.gz",
      "web01-20261399_000000.tar.gz",
      "web01-notatime.tar.gz",
      "web02-20261101_000000.tar.gz",
    ]);
  });

  test("never deletes the newest archive, however old", async () => {
    touch("web01-20250101_000000.tar.gz", "web01-20250102_000000.tar.gz");
    await pruneArchives(base, { hostname: "web01", keepDays: 7, now, logger, isDryRun: false });
    expect(readdirSync(base)).toEqual(["web01-20250102_000000.tar.gz"]);
  });

  test("a dry run deletes nothing", async () => {
    touch("web01-20250101_000000.tar.gz", "web01-20250102_000000.tar.gz");
    const pruned = await pruneArchives(base, { hostname: "web01", keepDays: 7, now, logger, isDryRun: true });
    expect(pruned).toEqual(["web01-20250101_000000.tar.gz"]);
    expect(readdirSync(base)).toHaveLength(2);
  });

  test("a hostname with regex characters matches only itself", async () => {
    touch("a.b-20261126_000000.tar.gz", "aXb-20261126_000000.tar.gz");
    expect((await listArchives(base, "a.b")).map((archive) => archive.name)).toEqual([
      "a.b-20261126_000000.tar.gz",
    ]);
  });

  test("removes staging dirs and .partial files of interrupted runs", async () => {
    mkdirSync(join(base, ".staging-20261125_000000-123", "x"), { recursive: true });
    touch("web01-20261125_000000.tar.gz.partial", "web01-20261125_000000.tar.gz");
    const removed = await removeLeftovers(base, { logger, isDryRun: false });
    expect(removed.sort()).toEqual([".staging-20261125_000000-123", "web01-20261125_000000.tar.gz.partial"]);
    expect(readdirSync(base)).toEqual(["web01-20261125_000000.tar.gz"]);
  });
});
