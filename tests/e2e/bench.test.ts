// The benchmark must not rot: run it at a tiny size through its TypeScript entry (on the binary that
// scripts/check built) on its scratch filesystem and check that results.json holds every row, ratio
// and target, and that the filesystem is gone afterwards. About 45 s
// here (sshd, PostgreSQL, dockerd and a dozen restic repositories start), so it runs in every check.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { chmod } from "node:fs/promises";
import { join } from "node:path";
import { parseOptions, runBench } from "../../bench/bench.ts";
import { databaseRows, ratioDefinitions, stepRows } from "../../bench/report.ts";
import { makeSecureTempDir, removeTempDir } from "../harness/index.ts";
import { binaryPath } from "./binary.ts";

let root: string;

beforeAll(async () => {
  // the scratch filesystem is mounted inside: sshd then wants root-owned, non-writable ancestors
  root = await makeSecureTempDir("bkpctl-bench-");
  // PostgreSQL's and sshd's accounts must reach their dirs on it
  await chmod(root, 0o755);
});

afterAll(async () => {
  if (root) await removeTempDir(root);
});

describe("scripts/bench", () => {
  test("at 8 MiB and one run writes results.json with every step row, every ratio and the memory and downtime targets", async () => {
    expect(existsSync(binaryPath)).toBe(true);
    const output = join(root, "results.json");
    const options = parseOptions([
      "--size",
      "8M",
      "--runs",
      "1",
      "--work-dir",
      join(root, "work"),
      "--output",
      output,
      "--binary",
      binaryPath,
    ]);
    await runBench(options);
    const results = JSON.parse(readFileSync(output, "utf8"));
    const hasDatabase = results.dataset.database_bytes > 0;
    for (const row of Object.keys(stepRows)) {
      if (!hasDatabase && databaseRows.includes(row)) continue;
      const median = results.rows[row]?.median;
      expect(median?.wallMs, `row ${row}`).toBeGreaterThan(0);
    }
    expect(results.ratios.map((ratio: { name: string }) => ratio.name)).toEqual(
      ratioDefinitions.map((definition) => definition.name),
    );
    for (const ratio of results.ratios) expect(ratio.wall).toBeGreaterThan(0);
    const targetNames = results.targets.map((target: { name: string }) => target.name).join("\n");
    expect(targetNames).toContain("server pull peak RSS");
    expect(targetNames).toContain("at 3× the data");
    expect(targetNames).toContain("stack downtime");
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.filesystem).toContain("ext4 with a journal, loop-mounted");
    // the scratch image is unmounted and removed afterwards
    expect(readFileSync("/proc/mounts", "utf8")).not.toContain(join(root, "work", "scratch"));
    expect(existsSync(join(root, "work", "scratch.ext4"))).toBe(false);
  }, 600_000);
});
