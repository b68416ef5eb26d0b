import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "../../../mod/lib/log.ts";
import { removeStaleSecretDirectories } from "../../../plugins/secrets.ts";

const dead = join(tmpdir(), "backupctl-secret-999999-test01");
const alive = join(tmpdir(), `backupctl-secret-${process.pid}-test02`);
afterEach(() => {
  for (const directory of [dead, alive]) rmSync(directory, { recursive: true, force: true });
});

describe("removeStaleSecretDirectories", () => {
  test("removes the secret directory of a run that no longer exists and keeps a live run's", async () => {
    mkdirSync(dead, { mode: 0o700 });
    mkdirSync(alive, { mode: 0o700 });
    expect(await removeStaleSecretDirectories(new Logger("test"))).toBeGreaterThanOrEqual(1);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(alive)).toBe(true);
  });
});
