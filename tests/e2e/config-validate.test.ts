// End-to-end: `backupctl config validate` through the compiled binary, on a broken directory and on
// the shipped example configs (installed as the packages install them: 0600).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { makeTempDir, removeTempDir } from "../harness/index.ts";
import { runBinary } from "./binary.ts";
import { writeConfigFile } from "./fixtures.ts";

let root: string;

/** Sets mode 0600 on every file under a directory. */
function chmodFiles(directory: string): void {
  for (const name of readdirSync(directory)) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) chmodFiles(path);
    else chmodSync(path, 0o600);
  }
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-e2e-validate-");
});
afterAll(async () => {
  if (root) await removeTempDir(root);
});

describe("config validate", () => {
  test("reports a syntax error, an unknown key, a wrong type, a 0644 config and a bad name at once and exits 2", async () => {
    const directory = join(root, "broken");
    const client = writeConfigFile(
      directory,
      "client_config.yml",
      "base_backup_dir: /var/tmp/backups\nkeep_days: seven\n",
    );
    chmodSync(client, 0o644);
    writeConfigFile(
      directory,
      "files/etc/service.yaml",
      "service:\n  name: etc\nfiles:\n  paths: [/etc]\n  exlcude: ['*.tmp']\n",
    );
    writeConfigFile(
      directory,
      "files/broken/service.yaml",
      "service:\n  name: broken\nfiles:\n  paths: [/srv, /opt\n",
    );
    writeConfigFile(
      directory,
      "files/escape/service.yaml",
      "service:\n  name: ../x\nfiles:\n  paths: [/srv]\n",
    );

    const result = await runBinary(["config", "validate", "--config-dir", directory]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toContain(`${client}:1:1`);
    expect(result.stdout).toContain("chmod 600");
    expect(result.stdout).toContain(`${client}:2:12 keep_days: expected a number`);
    expect(result.stdout).toContain('files.exlcude: unknown key "exlcude" (did you mean "exclude"?)');
    expect(result.stdout).toMatch(/files\/broken\/service\.yaml:\d+:\d+: YAML syntax error/);
    expect(result.stdout).toMatch(/files\/escape\/service\.yaml:2:\d+ service\.name: .*"\.\.\/x"/);

    const json = await runBinary(["config", "validate", "--json"], {
      env: { ...process.env, BACKUPCTL_CONFIG_DIR: directory } as Record<string, string>,
    });
    expect(json.exitCode).toBe(2);
    expect(JSON.parse(json.stdout).issues.length).toBeGreaterThanOrEqual(5);
  });

  test("the shipped example configs are valid (exit 0)", async () => {
    const directory = join(root, "examples");
    cpSync(resolve(import.meta.dir, "../../configs"), directory, { recursive: true });
    chmodFiles(directory);
    const result = await runBinary(["config", "validate", "--config-dir", directory]);
    expect(result.stdout).toContain("0 errors, 0 warnings");
    expect(result.exitCode).toBe(0);
  });
});
