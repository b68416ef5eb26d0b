// A throwaway PostgreSQL cluster for the dump tests: initdb in a temp dir, run as the `postgres` OS user
// (initdb and postgres refuse root), on a free loopback port and a private socket dir.
import { randomBytes } from "node:crypto";
import { chown, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { requireAccount } from "./accounts.ts";
import { runCommand, ServiceProcess, waitUntil } from "./process.ts";
import { makeTempDir, removeTempDir, withFreePort } from "./tmp.ts";

/** A running PostgreSQL cluster. */
export interface PostgresHandle {
  host: "127.0.0.1";
  port: number;
  /** Directory holding the cluster's unix socket (.s.PGSQL.<port>); local connections there are trusted. */
  socketDir: string;
  /** The superuser role; over TCP it logs in with `password` only (scram-sha-256). */
  superuser: string;
  password: string;
  /** Directory of the server binaries in use (pg_dump, psql, … of the same major version). */
  binDir: string;
  dataDir: string;
  /** Milliseconds from the call to a server accepting connections. */
  startupMs: number;
  /** Runs SQL as the superuser over the socket; returns the last statement's rows as tab-split fields. */
  psql(sql: string, options?: { database?: string }): Promise<string[][]>;
  /** Creates a database owned by the superuser. */
  createDatabase(name: string): Promise<void>;
  /** Stops the server (fast shutdown) and removes its temp dir; idempotent. */
  stop(): Promise<void>;
}

/** Starts a fresh cluster. Throws when initdb fails or the server is not ready within 30 s. */
export async function startPostgres(): Promise<PostgresHandle> {
  const startedAt = performance.now();
  const binDir = await findPostgresBinDir();
  const owner = await requireAccount("postgres");
  const dir = await makeTempDir("bkpctl-pg-");
  let service: ServiceProcess | undefined;
  try {
    await chown(dir, owner.uid, owner.gid);
    const dataDir = join(dir, "data");
    const password = randomBytes(12).toString("hex");
    const passwordFile = join(dir, "superuser-password");
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    await chown(passwordFile, owner.uid, owner.gid);
    const asPostgres = ["setpriv", `--reuid=${owner.uid}`, `--regid=${owner.gid}`, "--init-groups", "--"];
    await runCommand([
      ...asPostgres,
      join(binDir, "initdb"),
      `--pgdata=${dataDir}`,
      "--username=postgres",
      `--pwfile=${passwordFile}`,
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "--encoding=UTF8",
      "--no-locale",
      "--no-sync",
      "--no-instructions",
    ]);
    const { port, running } = await withFreePort(async (candidate) => {
      const started = ServiceProcess.start(
        [
          join(binDir, "postgres"),
          "-D",
          dataDir,
          "-k",
          dir,
          "-p",
          String(candidate),
          "-c",
          "listen_addresses=127.0.0.1",
          // Durability is irrelevant for a throwaway cluster; speed is not.
          "-c",
          "fsync=off",
          "-c",
          "synchronous_commit=off",
          "-c",
          "full_page_writes=off",
          "-c",
          "max_connections=40",
          "-c",
          "shared_buffers=16MB",
        ],
        { name: "postgres", logPath: join(dir, "postgres.log"), env: { LC_ALL: "C" }, runAs: owner },
      );
      service = started;
      await waitUntil(
        async () => {
          const probe = ["-h", dir, "-p", String(candidate), "-U", "postgres", "-d", "postgres", "-q"];
          return (
            (await runCommand([join(binDir, "pg_isready"), ...probe], { allowFailure: true })).exitCode === 0
          );
        },
        {
          description: `postgres to accept connections on port ${candidate}`,
          timeoutMs: 30_000,
          service: started,
          intervalMs: 100,
        },
      );
      return { port: candidate, running: started };
    });

    /** Runs SQL through psql over the socket. */
    async function psql(sql: string, options: { database?: string } = {}): Promise<string[][]> {
      const result = await runCommand(
        [
          join(binDir, "psql"),
          "--no-psqlrc",
          "--quiet",
          "--tuples-only",
          "--no-align",
          "--field-separator=\t",
          "--set=ON_ERROR_STOP=1",
          `--host=${dir}`,
          `--port=${port}`,
          "--username=postgres",
          `--dbname=${options.database ?? "postgres"}`,
          `--command=${sql}`,
        ],
        { env: { PGPASSWORD: undefined, PGSERVICE: undefined } },
      );
      return result.stdout
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => line.split("\t"));
    }

    let stopping: Promise<void> | undefined;
    return {
      host: "127.0.0.1",
      port,
      socketDir: dir,
      superuser: "postgres",
      password,
      binDir,
      dataDir,
      startupMs: Math.round(performance.now() - startedAt),
      psql,
      async createDatabase(name: string) {
        await psql(`CREATE DATABASE ${quoteIdentifier(name)}`);
      },
      stop() {
        // SIGINT is PostgreSQL's fast shutdown: roll back open transactions, disconnect, exit.
        stopping ??= (async () => {
          await running.stop({ signal: "SIGINT" });
          await removeTempDir(dir);
        })();
        return stopping;
      },
    };
  } catch (error) {
    await service?.stop({ signal: "SIGINT" });
    await removeTempDir(dir);
    throw error;
  }
}

/** Quotes an SQL identifier ("a""b"). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Returns the bin dir of the newest installed PostgreSQL (or $PG_BINDIR). Throws when none is installed. */
async function findPostgresBinDir(): Promise<string> {
  if (process.env.PG_BINDIR) return process.env.PG_BINDIR;
  const versions = await readdir("/usr/lib/postgresql").catch(() => [] as string[]);
  const newest = versions.filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error('No PostgreSQL server under "/usr/lib/postgresql" (run scripts/install-deps)');
  return join("/usr/lib/postgresql", newest, "bin");
}
