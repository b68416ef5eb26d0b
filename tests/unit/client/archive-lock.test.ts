import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireArchiveLock, archiveLockName, currentBootId } from "../../../mod/client/archive-lock.ts";
import { Logger } from "../../../mod/lib/log.ts";

let base: string;
const logger = new Logger("test");
const options = { logger, retries: 1, retryDelayMs: 10, hostname: "web01" };

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), "archive-lock-"));
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

describe("the shared archive lock", () => {
  test("is a directory with an owner record while held, and gone after release", async () => {
    const lock = await acquireArchiveLock(base, options);
    const owner = JSON.parse(readFileSync(join(base, archiveLockName, "owner.json"), "utf8"));
    expect(owner.pid).toBe(process.pid);
    expect(owner.bootId).toBe(currentBootId());
    await lock.release();
    expect(existsSync(join(base, archiveLockName))).toBe(false);
  });

  test("a second taker is refused with the holder's pid after its retries", async () => {
    const lock = await acquireArchiveLock(base, options);
    await expect(acquireArchiveLock(base, options)).rejects.toThrow(`held by pid ${process.pid}`);
    await lock.release();
  });

  test("replaces a lock whose owner no longer runs", async () => {
    const lockPath = join(base, archiveLockName);
    mkdirSync(lockPath);
    const dead = {
      pid: 999999,
      bootId: currentBootId(),
      processStartTicks: 1,
      startedAt: "2026-01-01T00:00:00Z",
    };
    writeFileSync(join(lockPath, "owner.json"), JSON.stringify(dead));
    const lock = await acquireArchiveLock(base, options);
    expect(JSON.parse(readFileSync(join(lockPath, "owner.json"), "utf8")).pid).toBe(process.pid);
    await lock.release();
  });

  test("replaces a lock from an earlier boot", async () => {
    const lockPath = join(base, archiveLockName);
    mkdirSync(lockPath);
    const owner = {
      pid: process.pid,
      bootId: "another-boot",
      processStartTicks: 1,
      startedAt: "2026-01-01T00:00:00Z",
    };
    writeFileSync(join(lockPath, "owner.json"), JSON.stringify(owner));
    const lock = await acquireArchiveLock(base, options);
    await lock.release();
  });

  test("treats an empty lock directory (made by the original's mkdir) as held", async () => {
    mkdirSync(join(base, archiveLockName));
    await expect(acquireArchiveLock(base, options)).rejects.toThrow("without a readable record");
    expect(existsSync(join(base, archiveLockName))).toBe(true);
  });
});
