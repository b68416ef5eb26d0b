// The scratch helpers give private temp dirs that are really removed, sshd-acceptable ones, and free ports.
import { describe, expect, test } from "bun:test";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { freePort, makeSecureTempDir, makeTempDir, removeTempDir, withFreePort } from "../tmp.ts";

describe("tmp harness", () => {
  test("makes a 0700 temp dir and removes it with its contents", async () => {
    const dir = await makeTempDir();
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    await mkdir(join(dir, "nested"));
    await writeFile(join(dir, "nested/file"), "x");
    await removeTempDir(dir);
    await expect(stat(dir)).rejects.toThrow();
  });

  test("makes a secure temp dir whose ancestors are all root-owned", async () => {
    const dir = await makeSecureTempDir();
    try {
      expect((await stat(dir)).uid).toBe(0);
      expect(dir.startsWith("/tmp/")).toBe(false);
    } finally {
      await removeTempDir(dir);
    }
  });

  test("refuses to remove a directory it did not make", async () => {
    await expect(removeTempDir("/etc")).rejects.toThrow(/Refusing/);
  });

  test("finds a port that can be bound on 127.0.0.1", async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    server.close();
    expect(port).toBeGreaterThan(0);
  });

  test("retries a start whose port was taken meanwhile, but not other failures", async () => {
    const tried: number[] = [];
    const port = await withFreePort(async (candidate) => {
      tried.push(candidate);
      if (tried.length === 1) throw new Error("bind: Address already in use");
      return candidate;
    });
    expect(tried).toHaveLength(2);
    expect(port).toBe(tried[1] as number);

    let calls = 0;
    const failing = withFreePort(async () => {
      calls++;
      throw new Error("config error");
    });
    await expect(failing).rejects.toThrow("config error");
    expect(calls).toBe(1);
  });
});
