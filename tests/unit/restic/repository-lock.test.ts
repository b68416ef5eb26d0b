import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BackupError } from "../../../mod/lib/errors.ts";
import { spawnStream } from "../../../mod/lib/exec.ts";
import { acquireRepositoryLock, repositoryLockPath } from "../../../mod/restic/repository-lock.ts";

describe("acquireRepositoryLock", () => {
  const stateDir = join(mkdtempSync(join(tmpdir(), "backupctl-repolock-")), "state");
  afterAll(() => rmSync(join(stateDir, ".."), { recursive: true, force: true }));

  test("creates <state_dir>/locks/repository-<host>.lock in a 0700 directory", async () => {
    const lock = await acquireRepositoryLock(stateDir, "web01", { timeoutMs: 0 });
    try {
      expect(lock.path).toBe(join(stateDir, "locks", "repository-web01.lock"));
      expect(statSync(join(stateDir, "locks")).mode & 0o777).toBe(0o700);
      expect(lock.isHeld).toBe(true);
    } finally {
      lock.release();
    }
    expect(lock.isHeld).toBe(false);
  });

  test("a second job on the same host waits, then fails as locked naming the host and the holder pid", async () => {
    const first = await acquireRepositoryLock(stateDir, "web01", { timeoutMs: 0 });
    try {
      const startedAt = Date.now();
      const error = await acquireRepositoryLock(stateDir, "web01", { timeoutMs: 300, pollMs: 50 }).catch(
        (caught) => caught,
      );
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(280);
      expect(error).toBeInstanceOf(BackupError);
      expect((error as BackupError).code).toBe("locked");
      expect((error as BackupError).message).toContain('"web01"');
      expect((error as BackupError).message).toContain(`process ${process.pid}`);
      // another host's repository is independent
      const other = await acquireRepositoryLock(stateDir, "db01", { timeoutMs: 0 });
      other.release();
    } finally {
      first.release();
    }
  });

  test("a waiting job gets the lock as soon as the holder releases it", async () => {
    const first = await acquireRepositoryLock(stateDir, "web01", { timeoutMs: 0 });
    setTimeout(() => first.release(), 150);
    const second = await acquireRepositoryLock(stateDir, "web01", { timeoutMs: 5000, pollMs: 25 });
    expect(second.isHeld).toBe(true);
    second.release();
  });

  test("a lock held by another process is respected and freed when that process dies", async () => {
    const path = repositoryLockPath(stateDir, "web02");
    await acquireRepositoryLock(stateDir, "web02", { timeoutMs: 0 }).then((lock) => lock.release());
    // flock(1) from util-linux holds the same kind of lock as lib/lock.ts, in a separate process
    const holder = spawnStream(["flock", "--exclusive", path, "sleep", "30"], { stdout: "ignore" });
    try {
      for (let attempt = 0; attempt < 100; attempt++) {
        const probe = await acquireRepositoryLock(stateDir, "web02", { timeoutMs: 0 }).catch(() => undefined);
        if (!probe) break;
        probe.release();
        await Bun.sleep(20);
      }
      const error = await acquireRepositoryLock(stateDir, "web02", { timeoutMs: 100 }).catch(
        (caught) => caught,
      );
      expect((error as BackupError).code).toBe("locked");
    } finally {
      holder.kill();
      await holder.wait().catch(() => undefined);
    }
    const lock = await acquireRepositoryLock(stateDir, "web02", { timeoutMs: 2000 });
    lock.release();
  });

  test("an abort stops the wait", async () => {
    const first = await acquireRepositoryLock(stateDir, "web03", { timeoutMs: 0 });
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const startedAt = Date.now();
      const error = await acquireRepositoryLock(stateDir, "web03", {
        timeoutMs: 10_000,
        signal: controller.signal,
      }).catch((caught) => caught);
      expect((error as BackupError).code).toBe("interrupted");
      expect(Date.now() - startedAt).toBeLessThan(2000);
    } finally {
      first.release();
    }
  });

  for (const host of ["../etc", "", "-x", "a/b"]) {
    test(`refuses the host name "${host}" before touching the file system`, () => {
      expect(() => repositoryLockPath(stateDir, host)).toThrow(BackupError);
    });
  }
});
