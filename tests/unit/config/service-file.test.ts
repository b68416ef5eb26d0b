import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { builtinTaskSchemas } from "../../../mod/config/tasks/index.ts";
import { loadServiceFile } from "../../../mod/config/validate.ts";
import { captureLog, removeTemporaryDirectories, writeConfigDirectory } from "./fixtures.ts";

beforeAll(() => {
  captureLog();
});
afterEach(removeTemporaryDirectories);

/** Loads a service file written at <type>/<name>/service.yaml of a fresh config dir. */
function loadService(text: string, at = "docker/app") {
  const relative = `${at}/service.yaml`;
  const directory = writeConfigDirectory({ [relative]: text });
  return loadServiceFile(path.join(directory, relative), directory);
}

describe("service files", () => {
  test("a compose app with a database dumped inside the stack is read with every default", () => {
    const { value, issues } = loadService(`
      service:
        name: app
        description: an app
      docker:
        compose_file: /srv/app/compose.yml
      postgresql:
        database: app
        container: db
      files:
        paths: /srv/app/data
    `);
    expect(issues).toEqual([]);
    expect(value).toMatchObject({ type: "docker", name: "app", description: "an app" });
    expect(value?.tasks.map((task) => task.key)).toEqual(["docker", "postgresql", "files"]);
    expect(value?.tasks[0]?.options).toEqual({
      compose_file: "/srv/app/compose.yml",
      stop_services: true,
      stop_wait_seconds: 30,
      wait_after_restart: 0,
      backup_config: true,
      pin_images: false,
    });
    expect(value?.tasks[1]?.options).toEqual({
      database: "app",
      container: "db",
      format: "plain",
      dump_options: [],
    });
    expect(value?.tasks[2]?.options).toEqual({ paths: ["/srv/app/data"], exclude: [], rsync_options: [] });
  });

  test("false is false: stop_services, backup_config and single_transaction", () => {
    const { value, issues } = loadService(`
      service: {name: app}
      docker: {compose_file: /srv/app/compose.yml, stop_services: false, backup_config: false, pin_images: false}
      mariadb: {database: app, single_transaction: false, container: db}
    `);
    expect(issues).toEqual([]);
    expect(value?.tasks[0]?.options).toMatchObject({
      stop_services: false,
      backup_config: false,
      pin_images: false,
    });
    expect(value?.tasks[1]?.options).toMatchObject({ single_transaction: false });
  });

  test("stop_services may list compose services", () => {
    const { value } = loadService(`
      service: {name: app}
      docker: {compose_file: /srv/app/compose.yml, stop_services: [web, worker]}
    `);
    expect(value?.tasks[0]?.options).toMatchObject({ stop_services: ["web", "worker"] });
  });

  test("dump_options are argv: a shell-quoted string or a list", () => {
    const { value } = loadService(`
      service: {name: app}
      mysql: {database: shop, dump_options: "--routines --where='id > 5'"}
      postgresql: {database: app, dump_options: [--no-owner, --exclude-table=logs]}
    `);
    expect(value?.tasks[0]?.options).toMatchObject({ dump_options: ["--routines", "--where=id > 5"] });
    expect(value?.tasks[1]?.options).toMatchObject({ dump_options: ["--no-owner", "--exclude-table=logs"] });
  });

  test("the influxdb token is refused in the service file, with the way to pass it instead", () => {
    const { issues } = loadService(`
      service: {name: metrics}
      influxdb: {org: home, token: secret-token}
    `);
    expect(issues.map((issue) => [issue.line, issue.path, issue.message, issue.hint])).toEqual([
      [
        2,
        "influxdb.token",
        "a token must not be written in the service file: it would be copied into every archive",
        "write it to a file with mode 0600 and set token_file, or set INFLUX_TOKEN",
      ],
    ]);
  });

  test("an influxdb task with token_file is read with its default host", () => {
    const { value, issues } = loadService(`
      service: {name: metrics}
      influxdb: {org: home, bucket: sensors, token_file: /etc/backup/secrets/influx.token}
    `);
    expect(issues).toEqual([]);
    expect(value?.tasks[0]?.options).toEqual({
      host: "http://localhost:8086",
      org: "home",
      bucket: "sensors",
      token_file: "/etc/backup/secrets/influx.token",
    });
  });

  test("a command task writes its stdout to a named file within a timeout", () => {
    const { value, issues } = loadService(`
      service: {name: ldap}
      command: {argv: "slapcat -n 1", output: ldap.ldif, timeout: 10m}
    `);
    expect(issues).toEqual([]);
    expect(value?.tasks[0]?.options).toEqual({
      argv: ["slapcat", "-n", "1"],
      output: "ldap.ldif",
      timeout: 600_000,
    });
  });

  test("a command task's output must be a plain file name", () => {
    const { issues } = loadService(`
      service: {name: ldap}
      command: {argv: [slapcat], output: ../../etc/passwd}
    `);
    expect(issues.map((issue) => issue.path)).toEqual(["command.output"]);
  });

  test("an empty task block is a task with no settings, and its required keys are reported", () => {
    const { issues } = loadService(`
      service: {name: app}
      sqlite:
    `);
    expect(issues.map((issue) => [issue.line, issue.path, issue.message])).toEqual([
      [2, "sqlite.path", "is required but missing"],
    ]);
  });

  test("a service without service.name is an error at the top", () => {
    const { issues } = loadService("files: {paths: [/etc]}\n");
    expect(issues.map((issue) => [issue.path, issue.message])).toEqual([
      ["service", "is required but missing"],
    ]);
  });

  test("a service with no tasks is a warning", () => {
    const { value, issues } = loadService("service: {name: app}\n");
    expect(value?.tasks).toEqual([]);
    expect(issues.map((issue) => issue.severity)).toEqual(["warning"]);
  });

  test("service.type that differs from the directory is a warning, and the directory decides", () => {
    const { value, issues } = loadService("service: {name: app, type: other}\nsqlite: {path: /a.db}\n");
    expect(value?.type).toBe("docker");
    expect(issues.map((issue) => [issue.severity, issue.path])).toEqual([["warning", "service.type"]]);
  });

  test("pg_dumpall cannot write the custom format", () => {
    const { issues } = loadService("service: {name: app}\npostgresql: {database: all, format: custom}\n");
    expect(issues.map((issue) => issue.path)).toEqual(["postgresql.format"]);
  });

  test("a database dump inside a container needs the docker task of the same file", () => {
    const { issues } = loadService("service: {name: app}\nmariadb: {database: app, container: db}\n");
    expect(issues.map((issue) => [issue.path, issue.message])).toEqual([
      ["mariadb.container", 'container "db" needs a docker task in the same service file'],
    ]);
  });

  test("values that could be read as options or escape a path are refused", () => {
    const { issues } = loadService(`
      service: {name: app}
      postgresql: {database: --file=/tmp/pwn, hostname: "-h evil"}
      files: {paths: [/srv/../etc, relative]}
      sqlite: {path: db.sqlite}
    `);
    expect(issues.map((issue) => issue.path)).toEqual([
      "postgresql.database",
      "postgresql.hostname",
      "files.paths[1]",
      "sqlite.path",
    ]);
  });

  test("the built-in task schemas are exported by task key, mysql sharing mariadb's", () => {
    expect(Object.keys(builtinTaskSchemas).sort()).toEqual(
      ["command", "docker", "files", "influxdb", "mariadb", "mysql", "postgresql", "sqlite"].sort(),
    );
    expect(builtinTaskSchemas.mysql).toBe(builtinTaskSchemas.mariadb);
    expect(builtinTaskSchemas.files.parse({ paths: "/etc" })).toEqual({
      paths: ["/etc"],
      exclude: [],
      rsync_options: [],
    });
  });
});
