import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import { binaryPath, runBinary } from "./binary.ts";

describe("the compiled binary", () => {
  const isolated = mkdtempSync(path.join(tmpdir(), "backupctl-bin-"));
  afterAll(() => rmSync(isolated, { recursive: true, force: true }));

  test("--version prints the package version and the build commit", async () => {
    const result = await runBinary(["--version"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^backupctl ${packageJson.version} \\(commit [0-9a-f]{7,}`));
  });

  test("runs from a directory with no node_modules and a PATH without node or bun", async () => {
    const copy = path.join(isolated, "backupctl");
    copyFileSync(binaryPath, copy);
    const result = await runBinary(["--version"], {
      binary: copy,
      cwd: isolated,
      env: { PATH: isolated, HOME: isolated },
    });
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`backupctl ${packageJson.version}`);
  });

  test("--help lists the commands and the exit statuses", async () => {
    const result = await runBinary(["--help"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("config");
    expect(result.stdout).toContain("--config-dir");
    expect(result.stdout).toContain("75   skipped: another run holds the lock");
  });

  test("an unknown command is a usage error with exit status 2", async () => {
    const result = await runBinary(["frobnicate"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("unknown command");
  });

  test("an invalid --log-level is a usage error naming the allowed values", async () => {
    const result = await runBinary(["--log-level", "loud", "config", "validate"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("error, warn, info, debug");
  });
});
