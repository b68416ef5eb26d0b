import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { BackupError } from "../../../mod/lib/errors.ts";
import { type CommandHandle, run, spawnStream } from "../../../mod/lib/exec.ts";
import { InstanceLock } from "../../../mod/lib/lock.ts";

const fixture = join(import.meta.dir, "fixtures", "lock-holder.ts");
let directory: string;
let lockPath: string;
const holders: CommandHandle[] = [];

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), "backupctl-lock-"));
  lockPath = join(directory, "client.lock");
});

afterEach(async () => {
  for (const holder of holders.splice(0)) {
    holder.kill();
    await holder.wait().catch(() => undefined);
  }
  rmSync(directory, { recursive: true, force: true });
});

/** Returns the first line a stream produces. */
async function firstLine(stream: Readable | undefined): Promise<string> {
  let text = "";
  for await (const chunk of stream ?? []) {
    text += String(chunk);
    if (text.includes("\n")) break;
  }
  return text.split("\n")[0] ?? "";
}

/** Starts a process (bun running the fixture, or a compiled binary) that takes the lock and keeps it. */
async function startHolder(command: string[] = [process.execPath, fixture]): Promise<CommandHandle> {
  const holder = spawnStream([...command, lockPath, "hold"], { stdout: "pipe" });
  holders.push(holder);
  expect(await firstLine(holder.stdout)).toBe(`locked ${holder.pid}`);
  return holder;
}

/** Runs a separate process that tries the lock once, and returns its answer and how long it took. */
async function tryInOtherProcess(command: string[] = [process.execPath, fixture]) {
  const startedAt = performance.now();
  const result = await run([...command, lockPath, "try"], { stdout: "capture" });
  return { answer: result.stdout?.trim(), milliseconds: performance.now() - startedAt };
}

describe("InstanceLock in one process", () => {
  test("the first taker gets the lock, a second open of the same file is refused, release frees it", () => {
    const first = InstanceLock.tryAcquire(lockPath);
    expect(first).toBeDefined();
    expect(first?.isHeld).toBe(true);
    expect(InstanceLock.tryAcquire(lockPath)).toBeUndefined();
    first?.release();
    expect(first?.isHeld).toBe(false);
    const again = InstanceLock.tryAcquire(lockPath);
    expect(again).toBeDefined();
    again?.release();
  });

  test("the lock file is created 0600 and names the holder's pid", () => {
    const lock = InstanceLock.tryAcquire(lockPath);
    expect(statSync(lockPath).mode & 0o777).toBe(0o600);
    expect(readFileSync(lockPath, "utf8")).toBe(`${process.pid}\n`);
    expect(InstanceLock.readHolder(lockPath)).toBe(process.pid);
    lock?.release();
  });

  test("a stale pid left in the file does not count as a lock", () => {
    writeFileSync(lockPath, "999999\n", { mode: 0o600 });
    const lock = InstanceLock.tryAcquire(lockPath);
    expect(lock).toBeDefined();
    expect(InstanceLock.readHolder(lockPath)).toBe(process.pid);
    lock?.release();
  });

  test("releasing twice is harmless", () => {
    const lock = InstanceLock.tryAcquire(lockPath);
    lock?.release();
    expect(() => lock?.release()).not.toThrow();
  });

  test("a symlink at the lock path is refused, so root never writes through it", () => {
    const victim = join(directory, "victim");
    writeFileSync(victim, "untouched");
    symlinkSync(victim, lockPath);
    expect(() => InstanceLock.tryAcquire(lockPath)).toThrow(BackupError);
    expect(readFileSync(victim, "utf8")).toBe("untouched");
  });

  test("a lock file in a missing directory is an error naming the file", () => {
    const path = join(directory, "missing", "x.lock");
    expect(() => InstanceLock.tryAcquire(path)).toThrow(`Cannot open lock file "${path}"`);
  });
});

describe("InstanceLock across processes", () => {
  test("a second process is refused at once while the first holds the lock, and gets it after kill -9", async () => {
    const holder = await startHolder();

    const whileHeld = await tryInOtherProcess();
    expect(whileHeld.answer).toBe("refused");
    // refused without waiting: the time is the process start-up alone
    expect(whileHeld.milliseconds).toBeLessThan(2000);
    expect(InstanceLock.tryAcquire(lockPath)).toBeUndefined();
    expect(InstanceLock.readHolder(lockPath)).toBe(holder.pid);

    process.kill(holder.pid as number, "SIGKILL");
    const error = await holder.wait().catch((caught: unknown) => caught);
    expect(String(error)).toContain("SIGKILL");

    expect((await tryInOtherProcess()).answer).toBe("acquired");
    const lock = InstanceLock.tryAcquire(lockPath);
    expect(lock).toBeDefined();
    lock?.release();
  });

  test("acquire gives up after its timeout with a 'locked' error naming the holder", async () => {
    const holder = await startHolder();
    const startedAt = Date.now();
    const error = await InstanceLock.acquire(lockPath, { timeoutMs: 300, pollMs: 50 }).catch(
      (caught) => caught,
    );
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(290);
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).code).toBe("locked");
    expect((error as BackupError).exitCode).toBe(75);
    expect((error as BackupError).message).toBe(`Cannot lock "${lockPath}": held by process ${holder.pid}`);
  });

  test("acquire waits for a holder that goes away within the timeout", async () => {
    const holder = await startHolder();
    setTimeout(() => holder.kill(), 200);
    const lock = await InstanceLock.acquire(lockPath, { timeoutMs: 5000, pollMs: 50 });
    expect(lock.isHeld).toBe(true);
    lock.release();
  });
});

describe("InstanceLock in a compiled binary", () => {
  let binaryDirectory: string;
  let binary: string;

  beforeAll(async () => {
    binaryDirectory = mkdtempSync(join(tmpdir(), "backupctl-lock-binary-"));
    binary = join(binaryDirectory, "lock-holder");
    await run([process.execPath, "build", "--compile", fixture, "--outfile", binary], { timeoutMs: 60_000 });
  });

  afterAll(() => {
    rmSync(binaryDirectory, { recursive: true, force: true });
  });

  test("bun:ffi flock works inside a bun build --compile binary, and kill -9 frees it", async () => {
    const holder = await startHolder([binary]);
    expect((await tryInOtherProcess([binary])).answer).toBe("refused");
    process.kill(holder.pid as number, "SIGKILL");
    await holder.wait().catch(() => undefined);
    expect((await tryInOtherProcess([binary])).answer).toBe("acquired");
  });
});
