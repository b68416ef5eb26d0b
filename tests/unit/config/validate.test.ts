import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ConfigIssue } from "../../../mod/config/issues.ts";
import { findServiceFiles, formatIssue, runConfigValidate } from "../../../mod/config/validate.ts";
import { BackupError } from "../../../mod/lib/errors.ts";
import {
  captureLog,
  captureOutput,
  copyExampleConfigs,
  makeTemporaryDirectory,
  removeTemporaryDirectories,
  writeConfigDirectory,
} from "./fixtures.ts";

let logLines: string[] = [];
beforeAll(() => {
  logLines = captureLog();
});
afterEach(removeTemporaryDirectories);

const minimalServer = `
  restic:
    repository_root: /srv/restic
    password_file: /etc/backup/restic.pass
  hosts:
    - hostname: web01
      ssh_user: backup
      ssh_key_file: /etc/backup/keys/id_ed25519
`;

/** Runs config validate with JSON output and returns the exit status and the issues. */
async function validateJson(options: {
  configDir: string;
  client?: boolean;
  server?: boolean;
  files?: string[];
}) {
  const output = captureOutput();
  const exitCode = await runConfigValidate({ ...options, json: true }, output);
  const report = JSON.parse(output.text()) as {
    valid: boolean;
    errors: number;
    warnings: number;
    files: string[];
    issues: ConfigIssue[];
  };
  return { exitCode, report };
}

describe("config validate", () => {
  test("reports a syntax error, an unknown key, a wrong type, a 0644 config and a bad service name at once, with file:line, and exits 2", async () => {
    const directory = writeConfigDirectory({
      "client_config.yml": `
        base_backup_dir: /var/tmp/backups
        keep_days: seven
      `,
      "files/etc/service.yaml": `
        service:
          name: etc
        files:
          paths: [/etc]
          exlcude: ["*.tmp"]
      `,
      "files/broken/service.yaml": `
        service:
          name: broken
        files:
          paths: [/srv, /opt
      `,
      "files/escape/service.yaml": `
        service:
          name: ../x
        files:
          paths: [/srv]
      `,
      "files/bad name/service.yaml": `
        service:
          name: fine
        files:
          paths: [/srv]
      `,
    });
    chmodSync(path.join(directory, "client_config.yml"), 0o644);
    const output = captureOutput();

    const exitCode = await runConfigValidate({ configDir: directory }, output);

    expect(exitCode).toBe(2);
    const lines = output.text().trimEnd().split("\n");
    const client = path.join(directory, "client_config.yml");
    const expectations = [
      `${client}:1:1: Cannot use "${client}": mode 0644 allows other users to read it (run chmod 600 ${client})`,
      `${client}:2:12 keep_days: expected a number, got string "seven"`,
      `${path.join(directory, "files/etc/service.yaml")}:5:3 files.exlcude: unknown key "exlcude" (did you mean "exclude"?)`,
      `${path.join(directory, "files/escape/service.yaml")}:2:9 service.name: cannot be used as a name: "../x" may use only`,
      `${path.join(directory, "files/bad name/service.yaml")}:1:1: the service directory name cannot be used: "bad name"`,
    ];
    for (const expected of expectations) expect(lines.some((line) => line.startsWith(expected))).toBe(true);
    expect(lines.some((line) => /files\/broken\/service\.yaml:5:\d+: YAML syntax error/.test(line))).toBe(
      true,
    );
    expect(lines.at(-1)).toBe("6 errors, 0 warnings in 5 files");
  });

  test("the example configs, copied and chmod 600 as installed, are valid without warnings", async () => {
    const directory = copyExampleConfigs();
    const { exitCode, report } = await validateJson({ configDir: directory });
    expect(report.issues.map(formatIssue)).toEqual([]);
    expect(exitCode).toBe(0);
    expect(report.files.length).toBe(7);
  });

  test("the example configs validate as client only and as server only", async () => {
    const directory = copyExampleConfigs();
    expect((await validateJson({ configDir: directory, client: true })).exitCode).toBe(0);
    expect((await validateJson({ configDir: directory, server: true })).exitCode).toBe(0);
  });

  test("a server-only directory is valid and a missing common_config.yml means defaults", async () => {
    const directory = writeConfigDirectory({ "server_config.yml": minimalServer });
    const { exitCode, report } = await validateJson({ configDir: directory });
    expect(exitCode).toBe(0);
    expect(report.files).toEqual([path.join(directory, "server_config.yml")]);
    // no admin_email anywhere: valid, but worth a warning
    expect(report.issues.map((issue) => issue.message)).toEqual([
      "no admin_email is set: failures will only be logged, not mailed",
    ]);
  });

  test("warnings are also written to the log", async () => {
    logLines.length = 0;
    const directory = writeConfigDirectory({ "server_config.yml": minimalServer });
    await validateJson({ configDir: directory });
    expect(logLines.some((line) => line.includes("WARN") && line.includes("no admin_email is set"))).toBe(
      true,
    );
  });

  test("a client-only directory with services is valid", async () => {
    const directory = writeConfigDirectory({
      "client_config.yml": "admin_email: admin@example.org\n",
      "sqlite/app/service.yml": "service: {name: app}\nsqlite: {path: /var/lib/app/app.db}\n",
    });
    const { exitCode, report } = await validateJson({ configDir: directory });
    expect(report.issues).toEqual([]);
    expect(exitCode).toBe(0);
  });

  test("an empty directory and a missing directory are errors", async () => {
    const empty = makeTemporaryDirectory();
    const emptyResult = await validateJson({ configDir: empty });
    expect(emptyResult.exitCode).toBe(2);
    expect(emptyResult.report.issues[0]?.message).toContain("holds no configuration files");

    const missing = path.join(empty, "nowhere");
    const missingResult = await validateJson({ configDir: missing });
    expect(missingResult.exitCode).toBe(2);
    expect(missingResult.report.issues[0]?.message).toContain("no such directory");
  });

  test("--server on a directory without server_config.yml is an error naming the file", async () => {
    const directory = writeConfigDirectory({ "client_config.yml": "admin_email: admin@example.org\n" });
    const { exitCode, report } = await validateJson({ configDir: directory, server: true });
    expect(exitCode).toBe(2);
    expect(report.issues[0]?.file).toBe(path.join(directory, "server_config.yml"));
    expect(report.issues[0]?.message).toContain("no such file");
  });

  test("--client checks the client config and the services but not the server config", async () => {
    const directory = writeConfigDirectory({
      "client_config.yml": "admin_email: admin@example.org\n",
      "server_config.yml": "global: {concurrency: many}\n",
      "files/etc/service.yaml": "service: {name: etc}\nfiles: {paths: /etc, bogus: 1}\n",
    });
    const { exitCode, report } = await validateJson({ configDir: directory, client: true });
    expect(exitCode).toBe(2);
    expect(report.issues.map((issue) => issue.path)).toEqual(["files.bogus"]);
  });

  test("given files are validated by the kind their names tell", async () => {
    const directory = writeConfigDirectory({
      "server_config.yml": minimalServer.replace("ssh_user: backup", "ssh_user: 42.5"),
      "docker/app/service.yaml": "service: {name: app}\ndocker: {compose_file: /srv/app/compose.yml}\n",
      "notes.yml": "a: 1\n",
    });
    const { exitCode, report } = await validateJson({
      configDir: directory,
      files: [
        path.join(directory, "server_config.yml"),
        path.join(directory, "docker/app/service.yaml"),
        path.join(directory, "notes.yml"),
      ],
    });
    expect(exitCode).toBe(2);
    const byFile = report.issues.map((issue) => [path.basename(issue.file), issue.path]);
    expect(byFile).toContainEqual(["server_config.yml", "hosts[0].ssh_user"]);
    expect(byFile).toContainEqual(["notes.yml", ""]);
    expect(report.issues.some((issue) => issue.file.endsWith("service.yaml"))).toBe(false);
  });

  test("services without client_config.yml are reported, and still validated", async () => {
    const directory = writeConfigDirectory({
      "files/etc/service.yaml": "service: {name: etc}\nfiles: {paths: relative/path}\n",
    });
    const { exitCode, report } = await validateJson({ configDir: directory });
    expect(exitCode).toBe(2);
    const messages = report.issues.map((issue) => issue.message);
    expect(messages.some((message) => message.includes("client_config.yml is missing"))).toBe(true);
    expect(messages).toContain("must be an absolute path (starting with /)");
  });

  test("a misspelt config file name gets a did-you-mean warning", async () => {
    const directory = writeConfigDirectory({
      "server_config.yml": minimalServer,
      "client_config.yaml": "keep_days: 3\n",
    });
    const { report } = await validateJson({ configDir: directory });
    const stray = report.issues.find((issue) => issue.file.endsWith("client_config.yaml"));
    expect(stray?.severity).toBe("warning");
    expect(stray?.hint).toBe('did you mean "client_config.yml"?');
  });

  test("the human summary counts errors, warnings and files", async () => {
    const directory = writeConfigDirectory({
      "client_config.yml": "admin_email: admin@example.org\ntools: {yq_cmd: yq}\n",
    });
    const output = captureOutput();
    expect(await runConfigValidate({ configDir: directory }, output)).toBe(0);
    expect(output.text().trimEnd().split("\n").at(-1)).toBe("0 errors, 1 warning in 1 file");
  });
});

describe("service discovery", () => {
  test("finds <type>/<name>/service.yaml and service.yml in sorted order", () => {
    const directory = writeConfigDirectory({
      "sqlite/zeta/service.yaml": "service: {name: zeta}\n",
      "docker/beta/service.yml": "service: {name: beta}\n",
      "docker/alpha/service.yaml": "service: {name: alpha}\n",
      "docker/alpha/notes.txt": "not a service\n",
      "docker/.hidden/service.yaml": "service: {name: hidden}\n",
    });
    expect(findServiceFiles(directory)).toEqual([
      path.join(directory, "docker/alpha/service.yaml"),
      path.join(directory, "docker/beta/service.yml"),
      path.join(directory, "sqlite/zeta/service.yaml"),
    ]);
  });

  test("service.yaml and service.yml in one directory is an error", async () => {
    const directory = writeConfigDirectory({
      "client_config.yml": "admin_email: admin@example.org\n",
      "docker/app/service.yaml": "service: {name: app}\n",
      "docker/app/service.yml": "service: {name: app}\n",
    });
    expect(() => findServiceFiles(directory)).toThrow(BackupError);
    const { exitCode, report } = await validateJson({ configDir: directory });
    expect(exitCode).toBe(2);
    expect(report.issues[0]?.message).toContain("both service.yaml and service.yml");
  });

  test("a missing config dir has no service files", () => {
    expect(findServiceFiles(path.join(makeTemporaryDirectory(), "missing"))).toEqual([]);
  });

  test("two services of one type with the same service.name are an error", async () => {
    const directory = writeConfigDirectory({
      "client_config.yml": "admin_email: admin@example.org\n",
      "files/one/service.yaml": "service: {name: same}\nfiles: {paths: [/a]}\n",
      "files/two/service.yaml": "service: {name: same}\nfiles: {paths: [/b]}\n",
    });
    const { exitCode, report } = await validateJson({ configDir: directory });
    expect(exitCode).toBe(2);
    expect(report.issues[0]?.file).toBe(path.join(directory, "files/two/service.yaml"));
    expect(report.issues[0]?.message).toContain('service "files/same" is already defined');
  });

  test("an unknown task key is an external plugin: a warning without an executable, fine with one", async () => {
    const pluginDir = makeTemporaryDirectory();
    const directory = writeConfigDirectory({
      "client_config.yml": `admin_email: admin@example.org\nplugin_dir: ${pluginDir}\n`,
      "other/ucs/service.yaml": "service: {name: ucs}\nunivention: {custom_paths: [/etc/univention]}\n",
    });
    const before = await validateJson({ configDir: directory });
    expect(before.exitCode).toBe(0);
    expect(before.report.issues.map((issue) => [issue.severity, issue.path])).toEqual([
      ["warning", "univention"],
    ]);

    writeFileSync(path.join(pluginDir, "univention"), "#!/bin/sh\nexit 0\n");
    chmodSync(path.join(pluginDir, "univention"), 0o755);
    const after = await validateJson({ configDir: directory });
    expect(after.report.issues).toEqual([]);
  });

  test("a misspelt built-in task key gets a did-you-mean hint", async () => {
    const directory = writeConfigDirectory({
      "client_config.yml": "admin_email: admin@example.org\n",
      "db/app/service.yaml": "service: {name: app}\npostgresq: {database: app}\n",
    });
    const { report } = await validateJson({ configDir: directory });
    expect(report.issues[0]?.hint).toBe('did you mean "postgresql"?');
  });

  test("a task key that cannot be a plugin name is an error", async () => {
    const directory = writeConfigDirectory({
      "client_config.yml": "admin_email: admin@example.org\n",
      "db/app/service.yaml": 'service: {name: app}\n"../evil": {}\n',
    });
    const { exitCode, report } = await validateJson({ configDir: directory });
    expect(exitCode).toBe(2);
    expect(report.issues[0]?.message).toContain("task key cannot name a plugin");
  });
});
