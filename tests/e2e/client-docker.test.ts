// End-to-end: a compose app through the compiled binary — its database dumped while it runs, its
// running containers stopped only around the copy and started again (a stopped one stays stopped),
// also when the run is ended by SIGTERM, and after SIGKILL by the next run.
// The busybox image has no PostgreSQL, so the database runs on the host (the harness cluster) and the
// stack's containers stand in for the app; the lifecycle under test is the same.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type DockerHandle,
  makeTempDir,
  type PostgresHandle,
  removeTempDir,
  startDocker,
  startPostgres,
} from "../harness/index.ts";
import { binaryPath, runBinary } from "./binary.ts";
import { runSync, writeConfigFile, writeService } from "./fixtures.ts";

let root: string;
let docker: DockerHandle;
let postgres: PostgresHandle;
let configDir: string;
let baseDir: string;
let stateDir: string;
let projectDir: string;
let composeFile: string;
let dataDir: string;
let env: Record<string, string>;

/** Returns the compose services that run now. */
async function runningServices(): Promise<string[]> {
  const result = await docker.compose(
    ["--file", composeFile, "ps", "--services", "--filter", "status=running"],
    {
      cwd: projectDir,
    },
  );
  return result.stdout.split("\n").filter(Boolean).sort();
}

/** Writes client_config.yml; rsync may be a wrapper that is slow, so a signal can land while the stack is stopped. */
function writeClientConfig(rsync: string[] = ["rsync"]): void {
  writeConfigFile(configDir, "client_config.yml", {
    hostname: "app01",
    base_backup_dir: baseDir,
    state_dir: stateDir,
    min_free_space_mb: 1,
    lock_retries: 0,
    tools: {
      docker_cmd: docker.composeCommand,
      rsync_cmd: rsync,
      pg_dump_cmd: [join(postgres.binDir, "pg_dump")],
    },
  });
}

/** Returns the final archives. */
function archives(): string[] {
  return readdirSync(baseDir)
    .filter((name) => /^app01-\d{8}_\d{6}\.tar\.gz$/.test(name))
    .sort();
}

/** Starts the binary in the background and waits until the stack is stopped (the copy is running). */
async function startRunAndWaitForStop(): Promise<ReturnType<typeof Bun.spawn>> {
  const child = Bun.spawn([binaryPath, "client", "run", "--config-dir", configDir], {
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  const deadline = Date.now() + 30_000;
  while ((await runningServices()).includes("web")) {
    if (Date.now() > deadline) throw new Error("the run never stopped the stack");
    await Bun.sleep(100);
  }
  return child;
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-e2e-docker-");
  [docker, postgres] = await Promise.all([startDocker(), startPostgres()]);
  env = { ...process.env, ...docker.env, JOURNAL_STREAM: "" } as Record<string, string>;
  configDir = join(root, "etc");
  baseDir = join(root, "backups");
  stateDir = join(root, "state");
  projectDir = join(root, "app");
  dataDir = join(projectDir, "data");
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(
    join(dataDir, "upload.bin"),
    Buffer.from(Array.from({ length: 4096 }, (_, index) => index % 251)),
  );
  writeFileSync(join(dataDir, "notes.txt"), "keep me\n");
  composeFile = await docker.writeComposeProject(projectDir, {
    web: { command: ["sleep", "3600"], volumes: [`${dataDir}:/data`] },
    worker: { command: ["sleep", "3600"] },
    cache: { command: ["sleep", "3600"] },
  });
  await docker.compose(["--file", composeFile, "up", "-d"], { cwd: projectDir });
  // stopped before the backup: it must stay stopped
  await docker.compose(["--file", composeFile, "stop", "cache"], { cwd: projectDir });

  await postgres.createDatabase("app");
  await postgres.psql(
    "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one'), (2, 'two');",
    {
      database: "app",
    },
  );
  const passwordFile = join(root, "pg.pass");
  writeFileSync(passwordFile, postgres.password, { mode: 0o600 });
  chmodSync(passwordFile, 0o600);

  writeClientConfig();
  writeService(configDir, "docker", "app", {
    docker: { compose_file: composeFile, stop_wait_seconds: 5 },
    postgresql: {
      database: "app",
      hostname: "127.0.0.1",
      port: postgres.port,
      username: postgres.superuser,
      password_file: passwordFile,
    },
    files: { paths: [dataDir] },
  });
}, 180_000);

afterAll(async () => {
  await Promise.all([docker?.stop(), postgres?.stop()]);
  if (root) await removeTempDir(root);
});

describe("client run with a compose app", () => {
  test("dumps the database, copies the data byte for byte, and restarts exactly the running containers", async () => {
    expect(await runningServices()).toEqual(["web", "worker"]);
    const result = await runBinary(["client", "run", "--config-dir", configDir], { env });
    expect(result.stderr).not.toContain("ERROR");
    expect(result.exitCode).toBe(0);
    expect(await runningServices()).toEqual(["web", "worker"]);

    const [archive] = archives();
    const tree = join(root, "extracted");
    mkdirSync(tree);
    runSync(["tar", "-xf", join(baseDir, archive as string), "-C", tree]);
    const copied = join(tree, "docker/app/data", dataDir);
    expect(readFileSync(join(copied, "upload.bin")).equals(readFileSync(join(dataDir, "upload.bin")))).toBe(
      true,
    );
    expect(readFileSync(join(copied, "notes.txt"), "utf8")).toBe("keep me\n");
    expect(existsSync(join(tree, "docker/app/docker_config/docker-compose.yml"))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(tree, "manifest.json"), "utf8"));
    expect(manifest.services[0].downtime_ms).toBeGreaterThan(0);

    // the dump loads into a fresh database and yields the same rows
    const dump = join(
      tree,
      "docker/app/databases",
      readdirSync(join(tree, "docker/app/databases"))[0] as string,
    );
    await postgres.createDatabase("restored");
    runSync([
      join(postgres.binDir, "psql"),
      "-h",
      postgres.socketDir,
      "-p",
      String(postgres.port),
      "-U",
      postgres.superuser,
      "-d",
      "restored",
      "-v",
      "ON_ERROR_STOP=1",
      "-q",
      "-f",
      dump,
    ]);
    expect(await postgres.psql("SELECT id, name FROM items ORDER BY id", { database: "restored" })).toEqual([
      ["1", "one"],
      ["2", "two"],
    ]);
  }, 120_000);

  test("SIGTERM while the stack is stopped: the stack runs again, no lock, no .partial, exit 143", async () => {
    const slowRsync = join(root, "slow-rsync");
    writeFileSync(slowRsync, '#!/bin/sh\nsleep 20\nexec rsync "$@"\n', { mode: 0o755 });
    writeClientConfig([slowRsync]);
    try {
      const before = archives();
      const child = await startRunAndWaitForStop();
      child.kill("SIGTERM");
      expect(await child.exited).toBe(143);
      expect(await runningServices()).toEqual(["web", "worker"]);
      expect(
        readdirSync(baseDir).filter(
          (name) => name.includes("lock") || name.endsWith(".partial") || name.startsWith(".staging"),
        ),
      ).toEqual([]);
      expect(archives()).toEqual(before);
    } finally {
      writeClientConfig();
    }
  }, 90_000);

  test("SIGKILL while the stack is stopped: the next run starts it again, then backs up", async () => {
    const slowRsync = join(root, "slow-rsync");
    writeClientConfig([slowRsync]);
    let child: ReturnType<typeof Bun.spawn> | undefined;
    try {
      child = await startRunAndWaitForStop();
      child.kill("SIGKILL");
      await child.exited;
    } finally {
      writeClientConfig();
    }
    // the killed run could not restart anything
    expect(await runningServices()).toEqual([]);
    await Bun.sleep(1100);
    const result = await runBinary(["client", "run", "--config-dir", configDir], { env });
    expect(result.stderr).toContain("did not start it again: starting it now");
    expect(result.exitCode).toBe(0);
    expect(await runningServices()).toEqual(["web", "worker"]);
    expect(
      readdirSync(baseDir).filter((name) => name.startsWith(".staging") || name.endsWith(".partial")),
    ).toEqual([]);
  }, 90_000);
});
