import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import path from "node:path";
import { loadClientConfig, loadCommonConfig, runConfigValidate } from "../../../mod/config/validate.ts";
import {
  captureLog,
  captureOutput,
  makeTemporaryDirectory,
  removeTemporaryDirectories,
  writeConfigDirectory,
} from "./fixtures.ts";

beforeAll(() => {
  captureLog();
});
afterEach(removeTemporaryDirectories);

/** The original's common_config, as shipped, with a few additions a real one may hold. */
function legacyCommonConfig(canary: string): string {
  return `
    #!/bin/bash
    # Common configuration for the backup scripts
    : "\${YQ_CMD:=yq}"
    : "\${TAR_CMD:=/bin/tar}"
    : "\${RSYNC_CMD:=rsync}"
    : "\${DOCKER_CMD:="docker compose"}"
    : "\${RESTIC_CMD:=restic}"
    : "\${MSMTP_CMD:=msmtp}"
    PG_DUMP_CMD="\${PG_DUMP_CMD:-/usr/lib/postgresql/16/bin/pg_dump}"
    export MYSQL_DUMP_CMD='mysqldump'
    DEFAULT_ADMIN_EMAIL="admin+backup@example.org"
    DEFAULT_KEEP_DAYS=14   # two weeks
    LOG_LEVEL=3
    MYSTERY_SETTING=1
    touch ${canary}-command
    INFLUX_CMD="$(touch ${canary}-substitution)"
    GZIP_CMD=\`touch ${canary}-backticks\`
    if [[ "\${BASH_SOURCE[0]}" == "\${0}" ]]; then
      echo "This file is meant to be sourced"; exit 1
    fi
    return 0
  `;
}

describe("the legacy shell common_config", () => {
  test("is read as assignments and never run", () => {
    const directory = makeTemporaryDirectory();
    const canary = path.join(directory, "pwned");
    writeConfigDirectory({ common_config: legacyCommonConfig(canary) }, directory);

    const { value, issues } = loadCommonConfig(directory);

    for (const suffix of ["-command", "-substitution", "-backticks"])
      expect(existsSync(`${canary}${suffix}`)).toBe(false);
    expect(issues.every((issue) => issue.severity === "warning")).toBe(true);
    expect(value).toMatchObject({
      admin_email: ["admin+backup@example.org"],
      keep_days: 14,
      log_level: "debug",
    });
    expect(value?.tools).toMatchObject({
      tar_cmd: ["/bin/tar"],
      rsync_cmd: ["rsync"],
      docker_cmd: ["docker", "compose"],
      restic_cmd: ["restic"],
      pg_dump_cmd: ["/usr/lib/postgresql/16/bin/pg_dump"],
      mysqldump_cmd: ["mysqldump"],
    });
    expect(value?.mail.sendmail_path).toBe("/usr/bin/msmtp");
  });

  test("each mapped variable warns with its YAML replacement; unknown, obsolete and non-assignment lines warn too", () => {
    const directory = makeTemporaryDirectory();
    writeConfigDirectory({ common_config: legacyCommonConfig(path.join(directory, "pwned")) }, directory);
    const { issues } = loadCommonConfig(directory);
    const byLine = new Map(issues.map((issue) => [issue.line, issue]));

    expect(byLine.get(4)).toMatchObject({
      path: "TAR_CMD",
      hint: "write tools.tar_cmd in common_config.yml instead",
    });
    expect(byLine.get(8)).toMatchObject({
      path: "MSMTP_CMD",
      hint: "write mail.sendmail_path in common_config.yml instead",
    });
    expect(byLine.get(11)?.hint).toBe("write admin_email in common_config.yml instead");
    expect(byLine.get(3)?.message).toBe(
      "YQ_CMD is no longer used and is ignored: backupctl reads YAML itself",
    );
    expect(byLine.get(14)?.message).toBe("unknown variable MYSTERY_SETTING is ignored");
    expect(byLine.get(15)?.message).toContain(
      "line 15 is not a plain assignment and is ignored (it is never run)",
    );
    expect(byLine.get(16)?.message).toBe(
      "INFLUX_CMD is ignored: it uses shell expansion ($ or `), which is never run",
    );
    expect(byLine.get(17)?.message).toContain("GZIP_CMD is ignored");
    expect(byLine.get(20)?.message).toContain("is not a plain assignment");
    // the file as a whole: read, never run, and what replaces it
    expect(issues[0]).toMatchObject({
      line: 1,
      message: "the shell-style common_config is read as plain assignments and never run",
    });
  });

  test("feeds the client config like common_config.yml does", () => {
    const directory = writeConfigDirectory({
      common_config: 'DEFAULT_ADMIN_EMAIL="ops@example.org"\nDEFAULT_KEEP_DAYS=9\n',
      "client_config.yml": "backup_user: backup\n",
    });
    const { value } = loadClientConfig(directory);
    expect(value?.admin_email).toEqual(["ops@example.org"]);
    expect(value?.keep_days).toBe(9);
  });

  test("a bad value is reported at the variable's line", () => {
    const directory = writeConfigDirectory({ common_config: "# comment\nDEFAULT_KEEP_DAYS=many\n" });
    const { issues, value } = loadCommonConfig(directory);
    expect(value).toBeUndefined();
    const error = issues.find((issue) => issue.severity === "error");
    expect(error).toMatchObject({
      line: 2,
      path: "keep_days",
      message: 'expected a number, got string "many"',
    });
  });

  test("is ignored, with a warning, when common_config.yml exists", () => {
    const directory = writeConfigDirectory({
      common_config: "DEFAULT_KEEP_DAYS=9\n",
      "common_config.yml": "keep_days: 4\n",
    });
    const { value, issues } = loadCommonConfig(directory);
    expect(value?.keep_days).toBe(4);
    expect(issues.map((issue) => [issue.file, issue.message])).toEqual([
      [path.join(directory, "common_config"), "ignored: common_config.yml is read instead"],
    ]);
  });

  test("must be closed to other users like every config file", async () => {
    const directory = writeConfigDirectory({
      common_config: "DEFAULT_KEEP_DAYS=9\n",
      "client_config.yml": "{}\n",
    });
    const { chmodSync } = await import("node:fs");
    chmodSync(path.join(directory, "common_config"), 0o640);
    const output = captureOutput();
    expect(await runConfigValidate({ configDir: directory }, output)).toBe(2);
    expect(output.text()).toContain("mode 0640 allows other users to read it (run chmod 600");
  });
});
