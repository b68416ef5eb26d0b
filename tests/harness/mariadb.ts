// A throwaway MariaDB server for the dump tests: mariadb-install-db in a temp dir, mariadbd dropping to
// the `mysql` account, on a free loopback port and a private socket, root protected by a password.
import { randomBytes } from "node:crypto";
import { chown } from "node:fs/promises";
import { join } from "node:path";
import { requireAccount } from "./accounts.ts";
import { runCommand, ServiceProcess, waitUntil } from "./process.ts";
import { makeTempDir, removeTempDir, withFreePort } from "./tmp.ts";

/** A running MariaDB server. */
export interface MariadbHandle {
  host: "127.0.0.1";
  port: number;
  /** Path of the server's unix socket. */
  socket: string;
  /** Password of root (root@localhost over the socket, root@127.0.0.1 over TCP). */
  rootPassword: string;
  dataDir: string;
  /** Milliseconds from the call to a server accepting connections. */
  startupMs: number;
  /** Runs SQL as root over the socket; returns the rows as tab-split fields (batch-mode escaping). */
  query(sql: string, options?: { database?: string }): Promise<string[][]>;
  /** Stops the server and removes its temp dir; idempotent. */
  stop(): Promise<void>;
}

/** Server options shared by bootstrap and run: small and fast, durability irrelevant. */
const serverTuning = [
  "--innodb-log-file-size=8M",
  "--innodb-buffer-pool-size=32M",
  "--innodb-flush-log-at-trx-commit=0",
  "--innodb-doublewrite=0",
  "--skip-name-resolve",
];

/** Starts a fresh server. Throws when bootstrap fails or the server is not ready within 30 s. */
export async function startMariadb(): Promise<MariadbHandle> {
  const startedAt = performance.now();
  const owner = await requireAccount("mysql");
  const dir = await makeTempDir("bkpctl-mariadb-");
  let service: ServiceProcess | undefined;
  try {
    await chown(dir, owner.uid, owner.gid);
    const dataDir = join(dir, "data");
    const socket = join(dir, "mysqld.sock");
    await runCommand([
      "mariadb-install-db",
      "--no-defaults",
      `--datadir=${dataDir}`,
      "--user=mysql",
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      ...serverTuning,
    ]);
    const { port, running } = await withFreePort(async (candidate) => {
      const started = ServiceProcess.start(
        [
          "mariadbd",
          "--no-defaults",
          `--datadir=${dataDir}`,
          `--socket=${socket}`,
          `--port=${candidate}`,
          "--bind-address=127.0.0.1",
          `--pid-file=${join(dir, "mysqld.pid")}`,
          ...serverTuning,
        ],
        // Started as mysql rather than dropping to it with --user, so the parent-death signal survives.
        { name: "mariadbd", logPath: join(dir, "mariadbd.log"), runAs: owner },
      );
      service = started;
      await waitUntil(
        async () => {
          const ping = ["mariadb-admin", "--no-defaults", `--socket=${socket}`, "--user=root", "ping"];
          return (await runCommand(ping, { allowFailure: true, env: { MYSQL_PWD: "" } })).exitCode === 0;
        },
        {
          description: `mariadbd to accept connections on ${socket}`,
          timeoutMs: 30_000,
          service: started,
          intervalMs: 100,
        },
      );
      return { port: candidate, running: started };
    });

    /** Runs SQL through the mariadb client over the socket with `password`. */
    async function queryWith(password: string, sql: string, database?: string): Promise<string[][]> {
      const result = await runCommand(
        [
          "mariadb",
          "--no-defaults",
          `--socket=${socket}`,
          "--user=root",
          "--batch",
          "--skip-column-names",
          ...(database ? [`--database=${database}`] : []),
        ],
        // MYSQL_PWD keeps the password out of argv.
        { input: sql, env: { MYSQL_PWD: password } },
      );
      return result.stdout
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => line.split("\t"));
    }

    // mariadb-install-db creates root@localhost, @127.0.0.1, @::1 and @<hostname> without password; the
    // last one is unusable under --skip-name-resolve (ALTER USER fails on it), so it is deleted.
    const rootPassword = randomBytes(12).toString("hex");
    await queryWith(
      "",
      [
        ...["localhost", "127.0.0.1", "::1"].map(
          (host) => `ALTER USER 'root'@'${host}' IDENTIFIED BY '${rootPassword}';`,
        ),
        "DELETE FROM mysql.global_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1');",
        "DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1');",
        "FLUSH PRIVILEGES;",
      ].join("\n"),
    );

    let stopping: Promise<void> | undefined;
    return {
      host: "127.0.0.1",
      port,
      socket,
      rootPassword,
      dataDir,
      startupMs: Math.round(performance.now() - startedAt),
      query: (sql, options = {}) => queryWith(rootPassword, sql, options.database),
      stop() {
        stopping ??= (async () => {
          await running.stop({ timeoutMs: 30_000 });
          await removeTempDir(dir);
        })();
        return stopping;
      },
    };
  } catch (error) {
    await service?.stop();
    await removeTempDir(dir);
    throw error;
  }
}
