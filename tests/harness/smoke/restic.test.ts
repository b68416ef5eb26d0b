// The restic harness gives a working repository: a snapshot made in it can be listed and browsed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type ResticHandle, startRestic } from "../restic.ts";
import { makeTempDir, removeTempDir } from "../tmp.ts";

describe("restic harness", () => {
  let restic: ResticHandle;
  let scratch: string;
  beforeAll(async () => {
    scratch = await makeTempDir();
    restic = await startRestic();
  }, 60_000);
  afterAll(async () => {
    await restic?.stop();
    await removeTempDir(scratch);
  });

  test("keeps its password in a file only root can read", async () => {
    expect((await stat(restic.passwordFile)).mode & 0o777).toBe(0o600);
  });

  test("lists a snapshot made of a directory, with its host, tags and files", async () => {
    const data = join(scratch, "data");
    await mkdir(join(data, "docker/shop"), { recursive: true });
    await writeFile(join(data, "manifest.json"), "{}\n");
    await writeFile(join(data, "docker/shop/dump.sql"), "SELECT 1;\n");

    const snapshotId = await restic.backup([data], {
      host: "web01",
      tags: ["backupctl", "20261126_170000"],
      time: "2026-11-26 17:00:00",
    });

    const snapshots = await restic.snapshots();
    expect(snapshots.map((snapshot) => [snapshot.id, snapshot.hostname, snapshot.tags])).toEqual([
      [snapshotId, "web01", ["backupctl", "20261126_170000"]],
    ]);
    const files = (await restic.ls(snapshotId))
      .filter((node) => node.type === "file")
      .map((node) => node.path);
    expect(files.sort()).toEqual([join(data, "docker/shop/dump.sql"), join(data, "manifest.json")]);
  }, 60_000);

  test("repositories started one after another are independent", async () => {
    const [other, fresh] = await Promise.all([startRestic(), startRestic({ fresh: true })]);
    try {
      expect(other.repository).not.toBe(restic.repository);
      expect(await other.snapshots()).toEqual([]);
      expect(await fresh.snapshots()).toEqual([]);
    } finally {
      await Promise.all([other.stop(), fresh.stop()]);
    }
  }, 60_000);

  test("a wrong password is refused by the repository", async () => {
    const wrongPasswordFile = join(scratch, "wrong-password");
    await writeFile(wrongPasswordFile, "wrong\n", { mode: 0o600 });
    const result = await restic.restic(["snapshots", "--no-lock"], {
      env: { RESTIC_PASSWORD_FILE: wrongPasswordFile },
      allowFailure: true,
    });
    expect(result.exitCode).not.toBe(0);
  });
});
