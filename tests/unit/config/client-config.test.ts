import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import os from "node:os";
import path from "node:path";
import { formatIssue } from "../../../mod/config/issues.ts";
import { loadClientConfig, loadCommonConfig } from "../../../mod/config/validate.ts";
import { captureLog, removeTemporaryDirectories, writeConfigDirectory } from "./fixtures.ts";

beforeAll(() => {
  captureLog();
});
afterEach(removeTemporaryDirectories);

/** Loads a client config dir made of these files and returns the result. */
function loadClient(files: Record<string, string>) {
  const directory = writeConfigDirectory(files);
  return { directory, ...loadClientConfig(directory) };
}

describe("client_config.yml", () => {
  test("a minimal file takes the original's defaults", () => {
    const { value, issues } = loadClient({ "client_config.yml": "admin_email: admin@example.org\n" });
    expect(issues).toEqual([]);
    expect(value).toMatchObject({
      base_backup_dir: "/var/tmp/backups",
      backup_user: "root",
      backup_group: "root",
      admin_email: ["admin@example.org"],
      keep_days: 7,
      email_subject_prefix: "[Backup Error]",
      hostname: os.hostname(),
      min_free_space_mb: 500,
      plugin_dir: "/opt/backup/lib/plugins",
      log_level: "info",
      state_dir: "/var/lib/backupctl",
      compression: { algorithm: "gzip", level: 6, threads: 0 },
      lock_retries: 3,
      lock_retry_delay: 60_000,
      stale_lock_after: 6 * 60 * 60 * 1000,
    });
    expect(value?.tools.docker_cmd).toEqual(["docker", "compose"]);
    expect(value?.mail).toMatchObject({ transport: "sendmail", sendmail_path: "/usr/sbin/sendmail" });
  });

  test("client values win over common values, which win over the built-in defaults", () => {
    const { value, issues } = loadClient({
      "common_config.yml": `
        admin_email: common@example.org
        keep_days: 14
        log_level: debug
        tools:
          tar_cmd: /usr/local/bin/gtar
          docker_cmd: docker-compose
        mail:
          transport: smtp
          smtp: {host: mail.example.org, starttls: opportunistic}
      `,
      "client_config.yml": `
        keep_days: 3
        tools:
          docker_cmd: [docker, compose]
        mail:
          smtp: {port: 2525}
      `,
    });
    expect(issues).toEqual([]);
    expect(value?.keep_days).toBe(3);
    expect(value?.admin_email).toEqual(["common@example.org"]);
    expect(value?.log_level).toBe("debug");
    expect(value?.tools.tar_cmd).toEqual(["/usr/local/bin/gtar"]);
    expect(value?.tools.docker_cmd).toEqual(["docker", "compose"]);
    expect(value?.tools.rsync_cmd).toEqual(["rsync"]);
    expect(value?.mail.transport).toBe("smtp");
    expect(value?.mail.smtp).toMatchObject({
      host: "mail.example.org",
      port: 2525,
      starttls: "opportunistic",
    });
  });

  test("false is false, and zero is zero", () => {
    const { value, issues } = loadClient({
      "client_config.yml": `
        admin_email: admin@example.org
        min_free_space_mb: 0
        lock_retries: 0
        mail: {smtp: {secure: false}}
      `,
      "docker/app/service.yaml": "service: {name: app}\n",
    });
    expect(issues).toEqual([]);
    expect(value?.min_free_space_mb).toBe(0);
    expect(value?.lock_retries).toBe(0);
    expect(value?.mail.smtp.secure).toBe(false);
  });

  test("an empty value counts as not set, as in the original", () => {
    const { value, issues } = loadClient({
      "client_config.yml": "admin_email: admin@example.org\nkeep_days:\n",
    });
    expect(issues).toEqual([]);
    expect(value?.keep_days).toBe(7);
  });

  test("the original's log levels 0-3 are read as names", () => {
    for (const [number, name] of [
      [0, "error"],
      [1, "warn"],
      [2, "info"],
      [3, "debug"],
    ] as const) {
      const { value } = loadClient({
        "client_config.yml": `admin_email: a@example.org\nlog_level: ${number}\n`,
      });
      expect(value?.log_level).toBe(name);
    }
    const { issues } = loadClient({ "client_config.yml": "admin_email: a@example.org\nlog_level: 7\n" });
    expect(issues[0]?.message).toContain(
      'expected one of "error", "warn", "info", "debug" (or 0-3), got number 7',
    );
  });

  test("durations and compression levels are read and checked", () => {
    const { value } = loadClient({
      "client_config.yml": `
        admin_email: admin@example.org
        lock_retry_delay: 2m
        stale_lock_after: 90
        compression: {algorithm: zstd}
      `,
    });
    expect(value?.lock_retry_delay).toBe(120_000);
    expect(value?.stale_lock_after).toBe(90_000);
    expect(value?.compression).toEqual({ algorithm: "zstd", level: 3, threads: 0 });

    const { issues } = loadClient({
      "client_config.yml":
        "admin_email: a@example.org\ncompression: {algorithm: gzip, level: 12}\nlock_retry_delay: soon\n",
    });
    expect(issues.map(formatIssue)).toEqual([
      expect.stringContaining("2:39 compression.level: gzip levels go from 1 to 9, got 12"),
      expect.stringContaining(
        '3:19 lock_retry_delay: string "soon" is not a duration (write it like 90s, 30m, 26h, 2d or 1w)',
      ),
    ]);
  });

  test("wrong types are worded readably", () => {
    const { issues } = loadClient({
      "client_config.yml": `
        admin_email: [admin@example.org, 42]
        keep_days: 2.5
        backup_user: "bad user"
        compression: zstd
        tools:
          tar_cmd: {path: /bin/tar}
      `,
    });
    expect(issues.map((issue) => `${issue.path}: ${issue.message}`)).toEqual([
      "admin_email[1]: expected a mail address, got number 42",
      "keep_days: expected a whole number, got number 2.5",
      "backup_user: must be a user or group name such as backup (letters, digits, '.', '_', '-')",
      'compression: expected a mapping, got string "zstd"',
      "tools.tar_cmd: expected a string or a list of strings, got a mapping",
    ]);
  });

  test("every unknown key is reported at its line with the closest allowed key", () => {
    const { issues } = loadClient({
      "client_config.yml": `
        admin_email: admin@example.org
        keep_dayz: 3
        compression:
          algoritm: zstd
        tools:
          pg_dump: pg_dump
        totally_unrelated: 1
      `,
    });
    expect(issues.map((issue) => [issue.line, issue.column, issue.path, issue.hint])).toEqual([
      [2, 1, "keep_dayz", 'did you mean "keep_days"?'],
      [4, 3, "compression.algoritm", 'did you mean "algorithm"?'],
      [6, 3, "tools.pg_dump", 'did you mean "pg_dump_cmd"?'],
      [7, 1, "totally_unrelated", expect.stringContaining("allowed keys: base_backup_dir, backup_user")],
    ]);
  });

  test("a misspelt value of a fixed set gets a did-you-mean hint", () => {
    const { issues } = loadClient({
      "client_config.yml": "admin_email: a@example.org\ncompression: {algorithm: zstandard}\n",
    });
    expect(issues[0]?.message).toBe('expected one of "gzip", "zstd", got string "zstandard"');
  });

  test("base_backup_dir must not be / or a system directory", () => {
    for (const directory of ["/", "/tmp", "/var/tmp/", "relative/dir"]) {
      const { issues } = loadClient({
        "client_config.yml": `admin_email: a@example.org\nbase_backup_dir: ${directory}\n`,
      });
      expect(issues.map((issue) => issue.path)).toEqual(["base_backup_dir"]);
    }
  });

  test("a missing client_config.yml is an error", () => {
    const { issues } = loadClient({ "common_config.yml": "keep_days: 3\n" });
    expect(issues.map((issue) => issue.message)).toEqual([
      expect.stringMatching(/^Cannot read ".*client_config\.yml": no such file$/),
    ]);
  });

  test("an empty client_config.yml is an error that says how to take every default", () => {
    const { issues, value } = loadClient({ "client_config.yml": "# nothing here\n" });
    expect(value).toBeUndefined();
    expect(issues[0]?.hint).toContain("{} to take every default");
    expect(loadClient({ "client_config.yml": "{}\n" }).value?.keep_days).toBe(7);
  });

  test("errors in common_config.yml are reported with the client's and give no value", () => {
    const { directory, issues, value } = loadClient({
      "common_config.yml": "keep_days: -1\n",
      "client_config.yml": "admin_email: a@example.org\n",
    });
    expect(value).toBeUndefined();
    expect(issues.map(formatIssue)).toEqual([
      `${path.join(directory, "common_config.yml")}:1:12 keep_days: must be at least 1`,
    ]);
  });

  test("mail through smtp needs a host, and a user name needs a password file", () => {
    const { issues } = loadClient({
      "client_config.yml": "admin_email: a@example.org\nmail: {transport: smtp, smtp: {username: bob}}\n",
    });
    expect(issues.map((issue) => [issue.path, issue.message])).toEqual([
      ["mail.smtp.host", "transport is smtp but smtp.host is not set"],
      ["mail.smtp.password_file", "smtp.username is set but smtp.password_file is not"],
    ]);
  });

  test("SMTP port defaults to 465 with TLS from the start, else 587", () => {
    const { value } = loadClient({
      "client_config.yml":
        "admin_email: a@example.org\nmail: {transport: smtp, smtp: {host: mx.example.org, secure: true}}\n",
    });
    expect(value?.mail.smtp.port).toBe(465);
  });

  test("a mail address with a line break is refused (it would end up in a header)", () => {
    const { issues } = loadClient({
      "client_config.yml": 'admin_email: "a@example.org\\nBcc: x@evil.org"\n',
    });
    expect(issues[0]?.path).toBe("admin_email");
  });

  test("the hostname must be usable as an archive name prefix", () => {
    const { issues } = loadClient({
      "client_config.yml": "admin_email: a@example.org\nhostname: web01/../x\n",
    });
    expect(issues[0]?.path).toBe("hostname");
    expect(issues[0]?.message).toContain("cannot be used as a name");
  });
});

describe("common_config.yml", () => {
  test("a missing file means the built-in defaults", () => {
    const directory = writeConfigDirectory({});
    const { value, issues } = loadCommonConfig(directory);
    expect(issues).toEqual([]);
    expect(value?.keep_days).toBe(7);
    expect(value?.admin_email).toBeUndefined();
  });

  test("tools are commands: a string split like a shell does, or a list", () => {
    const directory = writeConfigDirectory({
      "common_config.yml": `
        tools:
          docker_cmd: docker compose
          pg_dump_cmd: "'/opt/pg 16/bin/pg_dump'"
          restic_cmd: [nice, -n, "19", restic]
      `,
    });
    const { value } = loadCommonConfig(directory);
    expect(value?.tools.docker_cmd).toEqual(["docker", "compose"]);
    expect(value?.tools.pg_dump_cmd).toEqual(["/opt/pg 16/bin/pg_dump"]);
    expect(value?.tools.restic_cmd).toEqual(["nice", "-n", "19", "restic"]);
  });

  test("an empty command is refused", () => {
    const directory = writeConfigDirectory({ "common_config.yml": 'tools: {tar_cmd: ""}\n' });
    expect(loadCommonConfig(directory).issues[0]?.message).toBe("must name a program");
  });
});
