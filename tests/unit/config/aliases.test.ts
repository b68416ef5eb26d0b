import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { loadClientConfig, loadServerConfig, loadServiceFile } from "../../../mod/config/validate.ts";
import { captureLog, removeTemporaryDirectories, writeConfigDirectory } from "./fixtures.ts";

beforeAll(() => {
  captureLog();
});
afterEach(removeTemporaryDirectories);

/** Loads a service file written at docker/app/service.yaml. */
function loadService(text: string) {
  const directory = writeConfigDirectory({ "docker/app/service.yaml": text });
  return loadServiceFile(path.join(directory, "docker/app/service.yaml"), directory);
}

describe("the original's key names", () => {
  test("docker_compose_path and pin_images_to_digest are read as compose_file and pin_images, with warnings at their lines", () => {
    const { value, issues } = loadService(`
      service: {name: app}
      docker:
        docker_compose_path: /srv/app/docker-compose.yml
        wait_after_restart: 5
        pin_images_to_digest: false
    `);
    expect(value?.tasks[0]?.options).toMatchObject({
      compose_file: "/srv/app/docker-compose.yml",
      wait_after_restart: 5,
      pin_images: false,
    });
    expect(issues.map((issue) => [issue.severity, issue.line, issue.path, issue.message])).toEqual([
      [
        "warning",
        3,
        "docker.docker_compose_path",
        '"docker_compose_path" is a deprecated name: use "compose_file"',
      ],
      [
        "warning",
        5,
        "docker.pin_images_to_digest",
        '"pin_images_to_digest" is a deprecated name: use "pin_images"',
      ],
    ]);
  });

  test("user and host of database tasks are read as username and hostname", () => {
    const { value, issues } = loadService(`
      service: {name: app}
      postgresql: {database: app, user: app, host: db.internal, port: 5433}
      mysql: {database: shop, user: shop, host: 127.0.0.1}
    `);
    expect(value?.tasks[0]?.options).toMatchObject({ username: "app", hostname: "db.internal", port: 5433 });
    expect(value?.tasks[1]?.options).toMatchObject({ username: "shop", hostname: "127.0.0.1" });
    expect(issues.map((issue) => issue.path)).toEqual([
      "postgresql.user",
      "postgresql.host",
      "mysql.user",
      "mysql.host",
    ]);
    expect(issues.every((issue) => issue.severity === "warning")).toBe(true);
  });

  test("an old name and its new name together are an error", () => {
    const { issues, value } = loadService(`
      service: {name: app}
      postgresql: {database: app, user: a, username: b}
    `);
    expect(value).toBeUndefined();
    expect(issues.map((issue) => [issue.severity, issue.path, issue.message])).toEqual([
      ["error", "postgresql.user", 'both "user" and its new name "username" are set'],
    ]);
  });

  test("errors in a renamed value point at the old key's line", () => {
    const { issues } = loadService(`
      service: {name: app}
      docker:
        docker_compose_path: relative.yml
    `);
    const error = issues.find((issue) => issue.severity === "error");
    expect(error).toMatchObject({
      line: 3,
      path: "docker.compose_file",
      message: "must be an absolute path (starting with /)",
    });
  });

  test("the server's top-level email_subject_prefix and hostname move under global", () => {
    const directory = writeConfigDirectory({
      "server_config.yml": `
        email_subject_prefix: "[Old]"
        hostname: backup01
        global: {admin_email: a@example.org}
        restic: {repository_root: /srv/restic, password_file: /p}
        hosts:
          - {hostname: web01, ssh_user: backup, ssh_key_file: /k}
      `,
    });
    const { value, issues } = loadServerConfig(directory);
    expect(value?.global.email_subject_prefix).toBe("[Old]");
    expect(value?.global.hostname).toBe("backup01");
    expect(issues.map((issue) => [issue.severity, issue.line, issue.message])).toEqual([
      ["warning", 1, '"email_subject_prefix" is a deprecated name: use "global.email_subject_prefix"'],
      ["warning", 2, '"hostname" is a deprecated name: use "global.hostname"'],
    ]);
  });

  test("a host's restic_forget_policy becomes its maintenance override", () => {
    const directory = writeConfigDirectory({
      "server_config.yml": `
        global: {admin_email: a@example.org}
        restic:
          repository_root: /srv/restic
          password_file: /p
          maintenance:
            forget_policy: --keep-daily 7 --keep-weekly 4
            check_read_data_mode: "true"
        hosts:
          - {hostname: web01, ssh_user: backup, ssh_key_file: /k, restic_forget_policy: "--keep-last 5"}
          - {hostname: web02, ssh_user: backup, ssh_key_file: /k}
      `,
    });
    const { value, issues } = loadServerConfig(directory);
    expect(issues.every((issue) => issue.severity === "warning")).toBe(true);
    expect(issues.map((issue) => issue.path)).toEqual([
      "restic.maintenance.forget_policy",
      "restic.maintenance.check_read_data_mode",
      "hosts[0].restic_forget_policy",
    ]);
    expect(value?.hosts[0]?.maintenance.forget_options).toEqual(["--keep-last", "5"]);
    expect(value?.hosts[1]?.maintenance.forget_options).toEqual(["--keep-daily", "7", "--keep-weekly", "4"]);
    expect(value?.restic.maintenance.read_data_subset).toBe("1/1");
  });

  test("tools.msmtp_cmd becomes the sendmail program and tools.yq_cmd is ignored, each with a warning", () => {
    const directory = writeConfigDirectory({
      "client_config.yml": `
        admin_email: a@example.org
        tools:
          yq_cmd: /usr/local/bin/yq
          msmtp_cmd: msmtp
          tar_cmd: tar
      `,
    });
    const { value, issues } = loadClientConfig(directory);
    expect(value?.mail.sendmail_path).toBe("/usr/bin/msmtp");
    expect(issues.map((issue) => [issue.severity, issue.path, issue.hint])).toEqual([
      ["warning", "tools.yq_cmd", 'remove "yq_cmd"'],
      ["warning", "tools.msmtp_cmd", 'rename "msmtp_cmd" to "mail.sendmail_path"'],
    ]);
  });
});
