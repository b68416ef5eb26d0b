// End-to-end: `backupctl restore` through the compiled binary, of a snapshot made the real way: a
// compose app (its database dumped while it runs, its containers stopped around the copy) and a plain
// file tree staged by `backupctl client run`, fetched over OpenSSH and stored by `backupctl server pull`.
// The busybox image has no PostgreSQL, so the app's database runs on the host (the harness cluster).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type DockerHandle,
  makeTempDir,
  type PostgresHandle,
  removeTempDir,
  type SshdHandle,
  startDocker,
  startPostgres,
  startSshd,
} from "../harness/index.ts";
import { runBinary } from "./binary.ts";
import { runSync, writeConfigFile, writeService } from "./fixtures.ts";

let root: string;
let docker: DockerHandle;
let source: PostgresHandle;
let fresh: PostgresHandle;
let sshd: SshdHandle;
let serverConfigDir: string;
let staged: string;
let snapshotId: string;
let snapshotRoot: string;
let clientConfigDir: string;
let clientEnv: Record<string, string>;

/** A listing of a tree with what a restore must keep: type, mode, owner, size, mtime, link target. */
function describeTree(directory: string): string[] {
  return (
    runSync(["find", directory, "-mindepth", "1", "-printf", "%P %y %m %U:%G %s %T@ %l\\n"])
      .split("\n")
      .filter(Boolean)
      .map((line) => line.replace(/ (\d+)\.\d+ /, " $1 ")) // whole seconds: GNU tar keeps no more
      // a directory's mtime is left out: the reference tree extracted with `tar -x` does not always get
      // it back (seen for data/ above a 1777 tmp/), while files, links and modes compare exactly
      .map((line) => line.replace(/^(\S+ d \S+ \S+ \S+) \d+ /, "$1 - "))
      .sort()
  );
}

/** Returns the mtime (whole seconds) of every directory under a snapshot path, relative to it, as restic ls lists them. */
function snapshotDirectoryTimes(snapshot: string, under: string): Record<string, number> {
  const listing = runSync(
    ["restic", "--repo", join(root, "repositories", "app01"), "--no-cache", "ls", "--json", "--", snapshot],
    { env: { RESTIC_PASSWORD_FILE: join(root, "restic.pass") } },
  );
  const times: Record<string, number> = {};
  for (const line of listing.split("\n").filter((text) => text.startsWith("{"))) {
    const node = JSON.parse(line) as { type?: string; path?: string; mtime?: string };
    if (node.type === "dir" && node.path?.startsWith(`${under}/`)) {
      times[node.path.slice(under.length + 1)] = Math.floor(Date.parse(node.mtime as string) / 1000);
    }
  }
  return times;
}

/** Returns the mtime (whole seconds) of every directory under a restored tree, relative to it. */
function restoredDirectoryTimes(directory: string): Record<string, number> {
  const times: Record<string, number> = {};
  for (const line of runSync([
    "find",
    directory,
    "-mindepth",
    "1",
    "-type",
    "d",
    "-printf",
    "%P %T@\\n",
  ]).split("\n")) {
    const [path, time] = line.split(" ");
    if (path && time) times[path] = Math.floor(Number(time));
  }
  return times;
}

/** Runs restore with the server config. */
function restore(args: string[]) {
  return runBinary(["restore", "--config-dir", serverConfigDir, ...args]);
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-e2e-restore-");
  [docker, source, fresh, sshd] = await Promise.all([
    startDocker(),
    startPostgres(),
    startPostgres(),
    startSshd(),
  ]);
  const env = { ...process.env, ...docker.env, JOURNAL_STREAM: "" } as Record<string, string>;

  // the compose app: data the containers use, a database on the host
  const projectDir = join(root, "app");
  const dataDir = join(projectDir, "data");
  mkdirSync(join(dataDir, "uploads"), { recursive: true });
  writeFileSync(
    join(dataDir, "uploads", "photo.bin"),
    Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256)),
  );
  writeFileSync(join(dataDir, "settings.json"), '{"theme":"dark"}\n', { mode: 0o640 });
  const composeFile = await docker.writeComposeProject(projectDir, {
    web: { command: ["sleep", "3600"], volumes: [`${dataDir}:/data`] },
  });
  await docker.compose(["--file", composeFile, "up", "-d"], { cwd: projectDir });
  await source.createDatabase("shop");
  await source.psql(
    "CREATE TABLE orders (id int PRIMARY KEY, item text); INSERT INTO orders VALUES (1, 'tea'), (2, 'cake');",
    { database: "shop" },
  );
  const pgPassword = join(root, "pg.pass");
  writeFileSync(pgPassword, source.password, { mode: 0o600 });
  chmodSync(pgPassword, 0o600);
  const etcDir = join(root, "srv-etc");
  mkdirSync(etcDir);
  writeFileSync(join(etcDir, "hosts.conf"), "127.0.0.1 app01\n");

  clientConfigDir = join(root, "client-etc");
  clientEnv = env;
  writeConfigFile(clientConfigDir, "client_config.yml", {
    hostname: "app01",
    base_backup_dir: sshd.root,
    backup_user: sshd.user,
    backup_group: String(sshd.gid),
    state_dir: join(root, "client-state"),
    min_free_space_mb: 1,
    tools: { docker_cmd: docker.composeCommand, pg_dump_cmd: [join(source.binDir, "pg_dump")] },
  });
  writeService(clientConfigDir, "docker", "app", {
    docker: { compose_file: composeFile, stop_wait_seconds: 5 },
    postgresql: {
      database: "shop",
      hostname: "127.0.0.1",
      port: source.port,
      username: source.superuser,
      password_file: pgPassword,
    },
    files: { paths: [dataDir] },
  });
  writeService(clientConfigDir, "files", "etc", { files: { paths: [etcDir] } });
  const clientRun = await runBinary(["client", "run", "--config-dir", clientConfigDir], { env });
  if (clientRun.exitCode !== 0) throw new Error(`client run failed:\n${clientRun.stderr}`);

  serverConfigDir = join(root, "server-etc");
  const knownHosts = join(root, "known_hosts");
  writeFileSync(knownHosts, `[app01]:${sshd.port} ${sshd.hostPublicKey}\n`, { mode: 0o600 });
  writeFileSync(join(root, "restic.pass"), "restore test password\n", { mode: 0o600 });
  mkdirSync(join(root, "repositories"));
  writeConfigFile(serverConfigDir, "server_config.yml", {
    global: {
      local_temp_base_dir: join(root, "server-work"),
      state_dir: join(root, "server-state"),
      known_hosts_file: knownHosts,
      admin_email: "admin@example.org",
      mail: { transport: "sendmail", sendmail_path: "/bin/true" },
    },
    restic: {
      repository_root: join(root, "repositories"),
      password_file: join(root, "restic.pass"),
      init_missing_repos: true,
    },
    hosts: [
      {
        hostname: "app01",
        address: "127.0.0.1",
        port: sshd.port,
        ssh_user: sshd.user,
        ssh_key_file: sshd.privateKeyPath,
        remote_tar_dir: sshd.remoteRoot,
      },
    ],
  });
  const pull = await runBinary(["server", "pull", "--config-dir", serverConfigDir]);
  if (pull.exitCode !== 0) throw new Error(`server pull failed:\n${pull.stderr}`);
  const listed = runSync(
    ["restic", "--repo", join(root, "repositories", "app01"), "--no-cache", "snapshots", "--json"],
    {
      env: { RESTIC_PASSWORD_FILE: join(root, "restic.pass") },
    },
  );
  const [snapshot] = JSON.parse(listed) as { id: string; paths: string[] }[];
  snapshotId = snapshot?.id as string;
  snapshotRoot = snapshot?.paths[0] as string;

  // the archive exactly as the client staged it, to compare the restore with
  const archive = readdirSync(join(sshd.root, "done")).find((name) => name.endsWith(".tar.gz")) as string;
  staged = join(root, "staged");
  mkdirSync(staged);
  runSync(["tar", "-xpf", join(sshd.root, "done", archive), "--numeric-owner", "-C", staged]);
}, 240_000);

afterAll(async () => {
  await Promise.all([docker?.stop(), source?.stop(), fresh?.stop(), sshd?.stop()]);
  if (root) await removeTempDir(root);
}, 120_000);

describe("restore", () => {
  test("--service of a compose-app snapshot reproduces that service's files byte for byte, and its dump loads into a fresh database", async () => {
    const target = join(root, "restore-app");
    const result = await restore(["app01", "--target", target, "--service", "app"]);
    expect(result.stderr).not.toContain("ERROR");
    expect(result.exitCode).toBe(0);

    // the unpack prefix is gone: the target holds the manifest and the one service
    expect(readdirSync(target).sort()).toEqual(["docker", "manifest.json"]);
    expect(readdirSync(join(target, "docker"))).toEqual(["app"]);
    expect(describeTree(join(target, "docker", "app"))).toEqual(describeTree(join(staged, "docker", "app")));
    expect(
      runSync([
        "diff",
        "-r",
        "--no-dereference",
        join(staged, "docker", "app"),
        join(target, "docker", "app"),
      ]),
    ).toBe("");
    // directories get the times the snapshot holds
    expect(restoredDirectoryTimes(join(target, "docker", "app"))).toEqual(
      snapshotDirectoryTimes(snapshotId, `${snapshotRoot}/docker/app`),
    );
    expect(readFileSync(join(target, "manifest.json"), "utf8")).toBe(
      readFileSync(join(staged, "manifest.json"), "utf8"),
    );

    // the printed command, run as printed against an empty cluster, loads the dump
    const dump = join(target, "docker", "app", "databases", "shop.sql");
    expect(result.stdout).toContain(dump);
    expect(result.stdout).toContain("PostgreSQL dump (plain SQL) of docker/app");
    const command = /^\s*\$ (.*shop\.sql.*)$/m.exec(result.stdout)?.[1] as string;
    expect(command).toBe(`createdb shop && psql --set=ON_ERROR_STOP=1 --dbname=shop --file=${dump}`);
    runSync(["sh", "-c", command], {
      env: {
        PATH: `${fresh.binDir}:${process.env.PATH}`,
        PGHOST: fresh.socketDir,
        PGPORT: String(fresh.port),
        PGUSER: fresh.superuser,
      },
    });
    expect(await fresh.psql("SELECT id, item FROM orders ORDER BY id", { database: "shop" })).toEqual([
      ["1", "tea"],
      ["2", "cake"],
    ]);
  }, 120_000);

  test("without --service the whole snapshot is restored, and no staging directory is left", async () => {
    const target = join(root, "restore-all");
    const result = await restore(["app01", "--target", target, "--snapshot", snapshotId.slice(0, 8)]);
    expect(result.exitCode).toBe(0);
    expect(readdirSync(target).sort()).toEqual(["docker", "files", "manifest.json"]);
    expect(describeTree(target)).toEqual(describeTree(staged));
    expect(result.stdout).toContain(`Restored snapshot ${snapshotId.slice(0, 8)} of app01`);
    expect(result.stdout).toContain("files/etc/");
  }, 120_000);

  test("a non-empty target is refused and left alone; --force restores into it and keeps what else is there", async () => {
    const target = join(root, "restore-busy");
    mkdirSync(target);
    writeFileSync(join(target, "keep.txt"), "mine\n");
    const refused = await restore(["app01", "--target", target, "--service", "files/etc"]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(`Refusing to restore into "${target}": it is not empty`);
    expect(readdirSync(target)).toEqual(["keep.txt"]);

    const forced = await restore(["app01", "--target", target, "--service", "files/etc", "--force"]);
    expect(forced.exitCode).toBe(0);
    expect(readdirSync(target).sort()).toEqual(["files", "keep.txt", "manifest.json"]);
    expect(describeTree(join(target, "files"))).toEqual(describeTree(join(staged, "files")));
    expect(forced.stdout).toContain("No database dumps in what was restored.");
  }, 120_000);

  test("restoring a service that failed in the latest snapshot warns and names the newest snapshot in which every service succeeded", async () => {
    const etcDir = join(root, "srv-etc");
    // files/etc fails on the next run: a command task of it exits 1, so the archive is partial
    writeService(clientConfigDir, "files", "etc", {
      files: { paths: [etcDir] },
      command: { argv: ["false"] },
    });
    try {
      await Bun.sleep(1100);
      const clientRun = await runBinary(["client", "run", "--config-dir", clientConfigDir], {
        env: clientEnv,
      });
      expect(clientRun.exitCode).toBe(3);
      const pull = await runBinary(["server", "pull", "--config-dir", serverConfigDir]);
      expect(pull.exitCode).toBe(0);
      expect(pull.stdout).toMatch(/app01\s+partial/);

      const target = join(root, "restore-failed");
      const latest = await restore(["app01", "--target", target, "--service", "files/etc"]);
      expect(latest.exitCode).toBe(0);
      const shortId = snapshotId.slice(0, 8);
      expect(latest.stderr).toMatch(
        new RegExp(
          `WARN .*Service "files/etc" failed in this backup .*the newest snapshot before it in which every service succeeded is ${shortId} \\(\\S+\\): restore from it with --snapshot ${shortId}`,
        ),
      );

      const fromComplete = join(root, "restore-complete");
      const complete = await restore([
        "app01",
        "--target",
        fromComplete,
        "--service",
        "files/etc",
        "--snapshot",
        shortId,
      ]);
      expect(complete.exitCode).toBe(0);
      expect(complete.stderr).not.toContain("failed in this backup");
      expect(
        readFileSync(join(fromComplete, "files", "etc", "data", etcDir.slice(1), "hosts.conf"), "utf8"),
      ).toBe("127.0.0.1 app01\n");
    } finally {
      writeService(clientConfigDir, "files", "etc", { files: { paths: [etcDir] } });
    }
  }, 120_000);

  test("an unknown service or snapshot is a usage error that says what there is", async () => {
    const target = join(root, "restore-none");
    const service = await restore(["app01", "--target", target, "--service", "wiki"]);
    expect(service.exitCode).toBe(2);
    expect(service.stderr).toContain("services in this snapshot: docker/app, files/etc");
    const snapshot = await restore(["app01", "--target", target, "--snapshot", "ffffffff"]);
    expect(snapshot.exitCode).toBe(2);
    expect(snapshot.stderr).toContain("no such snapshot");
    expect(existsSync(target)).toBe(false);
  }, 60_000);
});
