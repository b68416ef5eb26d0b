// The benchmark's world: a loopback sshd standing in for the client's SSH server, an optional
// PostgreSQL cluster with a seeded database, the restic password, and the config
// directories for `backupctl client run` and `server pull` — the setup of tests/e2e/server-pull.

import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { type PostgresHandle, type SshdHandle, startPostgres, startSshd } from "../tests/harness/index.ts";

/** Everything the steps need. */
export interface BenchEnvironment {
  workDir: string;
  /** The seeded source tree (the `files` service's path). */
  dataDir: string;
  binary: string;
  sshd: SshdHandle;
  postgres?: PostgresHandle;
  /** The benchmark database, when PostgreSQL runs. */
  databaseName: string;
  /** Bytes of the benchmark database's plain dump, when PostgreSQL runs. */
  databaseDumpBytes?: number;
  /** The server side: unpack dirs, restic repositories and caches. */
  serverDir: string;
  knownHostsFile: string;
  resticPasswordFile: string;
  /** Memory freed just before each measured step (see settle in steps.ts). */
  warmBytes: number;
  stop(): Promise<void>;
}

/** Client hosts of the backupctl steps: one per archive format, so each pull finds its own archive. */
export const hosts = { gzip: "bench-gz", zstd: "bench-zst" } as const;
export type Algorithm = keyof typeof hosts;

/** Runs a command to completion and returns its stdout. Throws with its stderr when it fails. */
export function runChecked(
  argv: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): string {
  const result = Bun.spawnSync(argv, {
    env: { ...process.env, ...options.env } as Record<string, string>,
    cwd: options.cwd,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (result.exitCode !== 0) {
    throw new Error(`${argv.join(" ")} exited ${result.exitCode}: ${result.stderr.toString().trim()}`);
  }
  return result.stdout.toString();
}

/** Writes a YAML config file with mode 0600 (backupctl refuses anything readable by others). */
export function writeConfig(path: string, content: unknown): void {
  mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
  writeFileSync(path, stringify(content), { mode: 0o600 });
}

/** Returns the PostgreSQL bin dir, or undefined when PostgreSQL is not installed. */
function findPostgres(): string | undefined {
  for (const version of ["17", "16", "15", "14", "13"]) {
    const directory = `/usr/lib/postgresql/${version}/bin`;
    if (existsSync(join(directory, "initdb"))) return directory;
  }
  return undefined;
}

/** Fills the benchmark database with about bytes of rows: ids, text, numbers, timestamps. */
async function fillDatabase(postgres: PostgresHandle, name: string, bytes: number): Promise<void> {
  await postgres.createDatabase(name);
  // about 120 bytes a row in a plain dump
  const rows = Math.max(1000, Math.round(bytes / 120));
  await postgres.psql(
    `CREATE TABLE events (id bigint PRIMARY KEY, host text, message text, amount numeric, at timestamptz);
     INSERT INTO events SELECT g, 'web' || (g % 50), md5(g::text) || ' ' || md5((g * 7)::text),
       (g % 100000) / 100.0, timestamptz '2026-01-01' + g * interval '1 second'
       FROM generate_series(1, ${rows}) AS g;`,
    { database: name },
  );
}

/** Starts sshd (and PostgreSQL when installed and wanted), writes the restic template. */
export async function startEnvironment(options: {
  workDir: string;
  dataDir: string;
  binary: string;
  databaseBytes: number;
  warmBytes: number;
}): Promise<BenchEnvironment> {
  const serverDir = join(options.workDir, "server");
  rmSync(serverDir, { recursive: true, force: true });
  mkdirSync(serverDir, { recursive: true, mode: 0o700 });
  const postgresBin = options.databaseBytes > 0 ? findPostgres() : undefined;
  const [sshd, postgres] = await Promise.all([
    startSshd(),
    postgresBin ? startPostgres() : Promise.resolve(undefined),
  ]);
  const databaseName = "benchdb";
  let databaseDumpBytes: number | undefined;
  if (postgres) {
    await fillDatabase(postgres, databaseName, options.databaseBytes);
    databaseDumpBytes = Number(
      (
        await postgres.psql(`SELECT pg_database_size('${databaseName}')`, { database: databaseName })
      )[0]?.[0] ?? 0,
    );
  }

  const knownHostsFile = join(serverDir, "known_hosts");
  // backupctl looks the key up under the configured host name, scp under the address
  const names = ["127.0.0.1", ...Object.values(hosts), "bench-docker"];
  writeFileSync(
    knownHostsFile,
    names.map((name) => `[${name}]:${sshd.port} ${sshd.hostPublicKey}\n`).join(""),
    { mode: 0o600 },
  );
  const resticPasswordFile = join(serverDir, "restic.pass");
  writeFileSync(resticPasswordFile, "benchmark password\n", { mode: 0o600 });

  return {
    workDir: options.workDir,
    dataDir: options.dataDir,
    binary: options.binary,
    sshd,
    postgres,
    databaseName,
    databaseDumpBytes,
    serverDir,
    knownHostsFile,
    resticPasswordFile,
    warmBytes: options.warmBytes,
    async stop() {
      await Promise.all([sshd.stop(), postgres?.stop()]);
    },
  };
}

/** Writes the client config dir of one backupctl host: a files service on the data set, and the database. */
export function writeClientConfig(
  environment: BenchEnvironment,
  algorithm: Algorithm,
  extra: { dataDir?: string; tools?: Record<string, unknown> } = {},
): string {
  const configDir = join(environment.workDir, "etc", `client-${algorithm}`);
  rmSync(configDir, { recursive: true, force: true });
  const { sshd, postgres } = environment;
  writeConfig(join(configDir, "client_config.yml"), {
    hostname: hosts[algorithm],
    base_backup_dir: sshd.root,
    backup_user: sshd.user,
    backup_group: String(sshd.gid),
    state_dir: join(environment.workDir, "client-state", algorithm),
    min_free_space_mb: 1,
    lock_retries: 0,
    compression: { algorithm },
    ...(postgres || extra.tools
      ? {
          tools: {
            ...(postgres ? { pg_dump_cmd: [join(postgres.binDir, "pg_dump")] } : {}),
            ...extra.tools,
          },
        }
      : {}),
  });
  const services: Record<string, Record<string, unknown>> = {
    "files/bench": { files: { paths: [extra.dataDir ?? environment.dataDir] } },
  };
  if (postgres) {
    services["postgresql/benchdb"] = {
      postgresql: {
        database: environment.databaseName,
        hostname: postgres.socketDir,
        port: postgres.port,
        username: postgres.superuser,
      },
    };
  }
  for (const [key, tasks] of Object.entries(services)) {
    const [, name] = key.split("/");
    writeConfig(join(configDir, key, "service.yaml"), { service: { name }, ...tasks });
  }
  return configDir;
}

/** Writes the server config dir that pulls every backupctl host from the loopback sshd. */
export function writeServerConfig(environment: BenchEnvironment): string {
  const configDir = join(environment.workDir, "etc", "server");
  rmSync(configDir, { recursive: true, force: true });
  const { sshd } = environment;
  writeConfig(join(configDir, "server_config.yml"), {
    global: {
      local_temp_base_dir: join(environment.serverDir, "unpack"),
      state_dir: join(environment.serverDir, "state"),
      known_hosts_file: environment.knownHostsFile,
      lock_check_retries: 0,
    },
    restic: {
      repository_root: join(environment.serverDir, "repositories"),
      password_file: environment.resticPasswordFile,
      init_missing_repos: false,
    },
    hosts: Object.values(hosts).map((hostname) => ({
      hostname,
      address: "127.0.0.1",
      port: sshd.port,
      ssh_user: sshd.user,
      ssh_key_file: sshd.privateKeyPath,
      remote_tar_dir: sshd.remoteRoot,
      after_ingest: "delete",
    })),
  });
  return configDir;
}

/** Makes a file in the sshd root readable by the login account, as a client's backup_user setup does. */
export function giveToLoginAccount(environment: BenchEnvironment, path: string): void {
  chownSync(path, environment.sshd.uid, environment.sshd.gid);
}
