import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { formatIssue } from "../../../mod/config/issues.ts";
import { loadServerConfig } from "../../../mod/config/validate.ts";
import { captureLog, dedent, removeTemporaryDirectories, writeConfigDirectory } from "./fixtures.ts";

beforeAll(() => {
  captureLog();
});
afterEach(removeTemporaryDirectories);

const restic = `
restic:
  repository_root: /srv/restic
  password_file: /etc/backup/restic.pass
`;

/** A host entry with the required keys and any extra lines. */
function host(hostname: string, ...extra: string[]): string {
  return [
    `  - hostname: ${hostname}`,
    "    ssh_user: backup",
    "    ssh_key_file: /etc/backup/keys/id_ed25519",
    ...extra.map((line) => `    ${line}`),
  ].join("\n");
}

/** Loads a server config from YAML text (plus an optional common_config.yml). */
function loadServer(text: string, common?: string) {
  const files: Record<string, string> = { "server_config.yml": dedent(text) };
  if (common) files["common_config.yml"] = common;
  const directory = writeConfigDirectory(files);
  return { directory, ...loadServerConfig(directory) };
}

describe("server_config.yml", () => {
  test("hosts inherit the global settings and get a repository under repository_root", () => {
    const { value, issues } = loadServer(
      `global: {admin_email: ops@example.org}\n${restic}\nhosts:\n${host("web01")}\n`,
    );
    expect(issues).toEqual([]);
    expect(value?.global).toMatchObject({
      local_temp_base_dir: "/var/tmp/backup_server_work",
      state_dir: "/var/lib/backupctl",
      concurrency: 2,
      known_hosts_file: "/etc/backup/known_hosts",
      lock_check_retries: 3,
      lock_check_delay: 120_000,
      stale_lock_after: 6 * 3600_000,
      max_age: 36 * 3600_000,
      email_subject_prefix: "[Backup Server]",
      max_archive_bytes: 1024 ** 4,
    });
    expect(value?.restic.restic_cmd).toEqual(["restic"]);
    expect(value?.restic.init_missing_repos).toBe(false);
    expect(value?.hosts[0]).toMatchObject({
      hostname: "web01",
      address: "web01",
      port: 22,
      remote_tar_dir: "/var/tmp/backups",
      after_ingest: "move",
      admin_email: ["ops@example.org"],
      known_hosts_file: "/etc/backup/known_hosts",
      max_age: 36 * 3600_000,
      repository: "/srv/restic/web01",
      password_file: "/etc/backup/restic.pass",
    });
  });

  test("per-host settings override the global ones", () => {
    const { value, issues } = loadServer(`
      global: {admin_email: ops@example.org, max_age: 2d}
      ${restic.trim().replace(/\n/g, "\n      ")}
      hosts:
      ${host(
        "db01",
        "address: 192.0.2.20",
        "port: 2222",
        "admin_email: [dba@example.org, ops@example.org]",
        "known_hosts_file: /etc/backup/known_hosts.db01",
        "after_ingest: keep",
        "max_age: 26h",
        "repository: sftp:store@example.org:/srv/restic/db01",
        "password_file: /etc/backup/db01.pass",
      ).replace(/\n/g, "\n      ")}
    `);
    expect(issues).toEqual([]);
    expect(value?.hosts[0]).toMatchObject({
      address: "192.0.2.20",
      port: 2222,
      admin_email: ["dba@example.org", "ops@example.org"],
      known_hosts_file: "/etc/backup/known_hosts.db01",
      after_ingest: "keep",
      max_age: 26 * 3600_000,
      repository: "sftp:store@example.org:/srv/restic/db01",
      password_file: "/etc/backup/db01.pass",
    });
  });

  test("global inherits common_config.yml: admin address, tools, mail; server values win", () => {
    const { value, issues } = loadServer(
      `global: {email_subject_prefix: "[Srv]"}\n${restic}\nhosts:\n${host("web01")}\n`,
      "admin_email: common@example.org\nemail_subject_prefix: '[Common]'\ntools: {restic_cmd: /usr/local/bin/restic}\n",
    );
    expect(issues).toEqual([]);
    expect(value?.global.admin_email).toEqual(["common@example.org"]);
    expect(value?.global.email_subject_prefix).toBe("[Srv]");
    expect(value?.restic.restic_cmd).toEqual(["/usr/local/bin/restic"]);
    expect(value?.hosts[0]?.admin_email).toEqual(["common@example.org"]);
  });

  test("restic.restic_cmd wins over tools.restic_cmd", () => {
    const { value } = loadServer(
      `global: {admin_email: a@example.org, tools: {restic_cmd: restic-a}}\nrestic:\n  repository_root: /srv/restic\n  password_file: /r.pass\n  restic_cmd: restic-b\nhosts:\n${host("web01")}\n`,
    );
    expect(value?.restic.restic_cmd).toEqual(["restic-b"]);
  });

  test("the retention policy defaults to the original's, and a host's policy replaces it as a whole", () => {
    const { value, issues } = loadServer(`
      global: {admin_email: a@example.org}
      restic:
        repository_root: /srv/restic
        password_file: /etc/backup/restic.pass
        maintenance: {check: false, read_data_subset: 1/5}
      hosts:
        - {hostname: a, ssh_user: backup, ssh_key_file: /k}
        - {hostname: b, ssh_user: backup, ssh_key_file: /k, maintenance: {keep_last: 5, check: true, prune: false}}
    `);
    expect(issues).toEqual([]);
    expect(value?.restic.maintenance).toMatchObject({
      keep_daily: 7,
      keep_weekly: 4,
      keep_monthly: 12,
      keep_yearly: 3,
    });
    expect(value?.hosts[0]?.maintenance).toMatchObject({
      keep_daily: 7,
      prune: true,
      check: false,
      read_data_subset: "1/5",
    });
    const hostB = value?.hosts[1]?.maintenance;
    expect(hostB).toMatchObject({ keep_last: 5, prune: false, check: true, read_data_subset: "1/5" });
    expect(hostB?.keep_daily).toBeUndefined();
  });

  test("prune: false and check: false take effect", () => {
    const { value } = loadServer(`
      global: {admin_email: a@example.org}
      restic:
        repository_root: /srv/restic
        password_file: /etc/backup/restic.pass
        maintenance: {keep_last: 3, prune: false, check: false}
      hosts:
        - {hostname: a, ssh_user: backup, ssh_key_file: /k}
    `);
    expect(value?.restic.maintenance.prune).toBe(false);
    expect(value?.restic.maintenance.check).toBe(false);
    expect(value?.hosts[0]?.maintenance).toMatchObject({ keep_last: 3, prune: false, check: false });
  });

  test("backup_options and forget_options are argv: YAML lists or shell-quoted strings", () => {
    const { value, issues } = loadServer(`
      global: {admin_email: a@example.org}
      restic:
        repository_root: /srv/restic
        password_file: /etc/backup/restic.pass
        backup_options: "--exclude 'a b' --compression max"
        maintenance:
          forget_options: --keep-last 3 --keep-tag "keep me"
      hosts:
        - {hostname: a, ssh_user: backup, ssh_key_file: /k, maintenance: {forget_options: [--keep-last, "9"]}}
    `);
    expect(issues).toEqual([]);
    expect(value?.restic.backup_options).toEqual(["--exclude", "a b", "--compression", "max"]);
    expect(value?.restic.maintenance.forget_options).toEqual(["--keep-last", "3", "--keep-tag", "keep me"]);
    expect(value?.hosts[0]?.maintenance.forget_options).toEqual(["--keep-last", "9"]);
  });

  test("backup_options may not name what backupctl sets: repository, password, host, tags, time, input, dry run", () => {
    const { issues } = loadServer(`
      restic:
        repository_root: /srv/restic
        password_file: /etc/backup/restic.pass
        backup_options: "--exclude-caches -r /elsewhere --repo=/other --host web02 -n --tag=x --compression max -- --json"
      hosts:
        - {hostname: a, ssh_user: backup, ssh_key_file: /k}
    `);
    expect(issues.map((issue) => [issue.path, issue.message])).toEqual([
      [
        "restic.backup_options",
        '"-r" cannot be set here: the repository is the host\'s repository, set by backupctl',
      ],
      [
        "restic.backup_options",
        '"--repo=/other" cannot be set here: the repository is the host\'s repository, set by backupctl',
      ],
      [
        "restic.backup_options",
        '"--host" cannot be set here: the host name is the host\'s hostname, set by backupctl',
      ],
      ["restic.backup_options", '"-n" cannot be set here: a dry run stores nothing, set by backupctl'],
      ["restic.backup_options", '"--tag=x" cannot be set here: the tags name the archive, set by backupctl'],
    ]);
  });

  test("check_options may not name the repository or its password", () => {
    const { issues } = loadServer(`
      restic:
        repository_root: /srv/restic
        password_file: /etc/backup/restic.pass
        maintenance: {check_options: "--with-cache --repo=/elsewhere"}
      hosts:
        - {hostname: a, ssh_user: backup, ssh_key_file: /k, maintenance: {check_options: [-p, /x]}}
    `);
    expect(issues.map((issue) => [issue.path, issue.message])).toEqual([
      [
        "restic.maintenance.check_options",
        '"--repo=/elsewhere" cannot be set here: the repository is the host\'s repository, set by backupctl',
      ],
      [
        "hosts[0].maintenance.check_options",
        '"-p" cannot be set here: the password is restic.password_file, set by backupctl',
      ],
    ]);
  });

  test("an unclosed quote in an option string is an error at that key", () => {
    const { issues } = loadServer(`
      restic:
        repository_root: /srv/restic
        password_file: /etc/backup/restic.pass
        backup_options: "--exclude 'a b"
      hosts:
        - {hostname: a, ssh_user: backup, ssh_key_file: /k}
    `);
    expect(issues.map(formatIssue)).toContainEqual(
      expect.stringMatching(/:4:19 restic\.backup_options: Cannot split .* quote is not closed/),
    );
  });

  test("a host listed twice is an error at the second entry", () => {
    const { issues } = loadServer(
      `global: {admin_email: a@example.org}\n${restic}\nhosts:\n${host("web01")}\n${host("web01")}\n`,
    );
    expect(issues.map((issue) => [issue.path, issue.message])).toEqual([
      ["hosts[1].hostname", 'host "web01" is already listed as hosts[0]'],
    ]);
    expect(issues[0]?.line).toBe(11);
  });

  test("without repository_root every host needs its own repository", () => {
    const { issues } = loadServer(`
      global: {admin_email: a@example.org}
      restic: {password_file: /etc/backup/restic.pass}
      hosts:
        - {hostname: a, ssh_user: backup, ssh_key_file: /k, repository: /srv/restic/a}
        - {hostname: b, ssh_user: backup, ssh_key_file: /k}
    `);
    expect(issues.map((issue) => [issue.path, issue.message, issue.hint])).toEqual([
      ["hosts[1]", 'host "b" has no repository', "set restic.repository_root, or repository for this host"],
    ]);
  });

  test("two hosts sharing one repository is an error", () => {
    const { issues } = loadServer(`
      global: {admin_email: a@example.org}
      restic: {repository_root: /srv/restic, password_file: /p}
      hosts:
        - {hostname: a, ssh_user: backup, ssh_key_file: /k}
        - {hostname: b, ssh_user: backup, ssh_key_file: /k, repository: /srv/restic/a}
    `);
    expect(issues.map((issue) => issue.path)).toEqual(["hosts[1].repository"]);
  });

  test("keep_* keys and forget_options together are an error", () => {
    const { issues } = loadServer(`
      global: {admin_email: a@example.org}
      restic:
        repository_root: /srv/restic
        password_file: /p
        maintenance: {keep_last: 3, forget_options: --keep-daily 7}
      hosts:
        - {hostname: a, ssh_user: backup, ssh_key_file: /k}
    `);
    expect(issues.map((issue) => [issue.path, issue.message])).toEqual([
      ["restic.maintenance.forget_options", "forget_options and keep_last are both set"],
    ]);
  });

  test.each([
    ["1/7", true],
    ["7/7", true],
    ["5%", true],
    ["2.5%", true],
    ["0/7", false],
    ["8/7", false],
    ["1/0", false],
    ["half", false],
    ["150%", false],
  ])("read_data_subset %p is %s", (subset, isValid) => {
    const { issues } = loadServer(`
      global: {admin_email: a@example.org}
      restic:
        repository_root: /srv/restic
        password_file: /p
        maintenance: {read_data_subset: "${subset}"}
      hosts:
        - {hostname: a, ssh_user: backup, ssh_key_file: /k}
    `);
    expect(issues.length === 0).toBe(isValid);
    if (!isValid) expect(issues[0]?.path).toBe("restic.maintenance.read_data_subset");
  });

  test("missing required keys are reported at their parent", () => {
    const { issues } = loadServer(`
      restic:
        repository_root: /srv/restic
      hosts:
        - hostname: web01
    `);
    expect(issues.map((issue) => `${issue.line}:${issue.column} ${issue.path}: ${issue.message}`)).toEqual([
      "1:1 restic.password_file: is required but missing",
      "4:5 hosts[0].ssh_user: is required but missing",
      "4:5 hosts[0].ssh_key_file: is required but missing",
    ]);
  });

  test("an empty hosts list is an error", () => {
    const { issues } = loadServer(`${restic}\nhosts: []\n`);
    expect(issues.map((issue) => [issue.path, issue.message])).toEqual([
      ["hosts", "must list at least 1 item"],
    ]);
  });

  test("durations and sizes in global are read into milliseconds and bytes", () => {
    const { value } = loadServer(`
      global:
        admin_email: a@example.org
        connect_timeout: 10
        idle_timeout: 2m
        max_archive_bytes: 50M
        max_clock_skew: 30s
      ${restic.trim().replace(/\n/g, "\n      ")}
      hosts:
        - {hostname: a, ssh_user: backup, ssh_key_file: /k}
    `);
    expect(value?.global).toMatchObject({
      connect_timeout: 10_000,
      idle_timeout: 120_000,
      max_archive_bytes: 50 * 1024 ** 2,
      max_clock_skew: 30_000,
    });
  });

  test("host names and repository locations that could escape are refused", () => {
    const { issues } = loadServer(`
      restic: {repository_root: relative/dir, password_file: /p}
      hosts:
        - {hostname: ../etc, ssh_user: backup, ssh_key_file: /k}
        - {hostname: ok, address: "-oProxyCommand=x", ssh_user: backup, ssh_key_file: /k}
    `);
    expect(issues.map((issue) => issue.path)).toEqual([
      "restic.repository_root",
      "hosts[0].hostname",
      "hosts[1].address",
    ]);
  });
});
