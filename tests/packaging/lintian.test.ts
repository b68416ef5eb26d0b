// lintian on the three .debs: nothing at any level, pedantic and informational included. What the
// packages do on purpose against Debian's archive rules is overridden in debian/*.lintian-overrides,
// each override with the reason above it.

import { beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { debPath, packagesDir, projectDir, run } from "./support.ts";

// outside scripts/check the packages are built first, which takes a minute or two
beforeAll(() => packagesDir(), 900_000);

test("lintian reports nothing for the three packages, unused overrides included", async () => {
  const debs = await Promise.all(["backup-common", "backup-client", "backup-server"].map(debPath));
  const result = await run(["lintian", "--pedantic", "--info", "--display-experimental", ...debs]);
  // E/W/I/P/X are findings (unused or mismatched overrides among them); N: lines are explanations,
  // and lintian's warning about running as root is not about the packages
  const findings = `${result.stdout}\n${result.stderr}`.split("\n").filter((line) => /^[EWIPX]: /.test(line));
  expect(findings).toEqual([]);
  expect(result.exitCode).toBe(0);
}, 300_000);

test("every lintian override has a comment above it saying why", () => {
  const directory = path.join(projectDir, "debian");
  const files = readdirSync(directory).filter((name) => name.endsWith(".lintian-overrides"));
  expect(files.length).toBe(3);
  const unexplained: string[] = [];
  for (const name of files) {
    const lines = readFileSync(path.join(directory, name), "utf8").split("\n");
    lines.forEach((line, index) => {
      if (line.trim() === "" || line.startsWith("#")) return;
      // the comment may cover a group of overrides that directly follow it
      let above = index - 1;
      while (above >= 0 && lines[above]?.trim() !== "" && !lines[above]?.startsWith("#")) above--;
      if (above < 0 || !lines[above]?.startsWith("#")) unexplained.push(`${name}:${index + 1}: ${line}`);
    });
  }
  expect(unexplained).toEqual([]);
});
