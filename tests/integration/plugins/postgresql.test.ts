// The postgresql task against a real PostgreSQL cluster from the harness: dumps restored into a fresh
// database give the same rows (plain and custom format), pg_dumpall, and dumps that fail halfway or
// end early (wrapper scripts around the real pg_dump) fail the task and leave no file behind.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { postgresqlTaskSchema } from "../../../mod/config/tasks/postgresql.ts";
import { postgresqlPlugin } from "../../../plugins/postgresql.ts";
import { type PostgresHandle, startPostgres } from "../../harness/postgres.ts";
import { runCommand } from "../../harness/process.ts";
import { makeTempDir, removeTempDir } from "../../harness/tmp.ts";
import { testContext } from "../../unit/plugins/context.ts";
import { runTasks, writeScript } from "./fixtures.ts";

describe("postgresql task", () => {
  let postgres: PostgresHandle;
  let root: string;
  let passwordFile: string;
  // one line per table: the rows hold tabs and newlines, which psql's unaligned output would split
  const selectItems = "SELECT count(*), md5(string_agg(item::text, '|' ORDER BY id)) FROM item";

  beforeAll(async () => {
    [postgres, root] = await Promise.all([startPostgres(), makeTempDir("bkpctl-pgtask-")]);
    passwordFile = join(root, "pg-password");
    await writeFile(passwordFile, `${postgres.password}\n`, { mode: 0o600 });
    await postgres.createDatabase("shop");
    await postgres.psql(
      [
        "CREATE TABLE item (id serial PRIMARY KEY, name text NOT NULL, price numeric(8,2), tags text[])",
        "INSERT INTO item (name, price, tags) SELECT 'item ' || n, n * 1.5, ARRAY['a', 'tab\tand\nnewline'] FROM generate_series(1, 2000) n",
        "INSERT INTO item (name, price) VALUES ('it''s \"quoted\"', NULL)",
      ].join(";\n"),
      { database: "shop" },
    );
  }, 60_000);
  afterAll(async () => {
    await postgres?.stop();
    if (root) await removeTempDir(root);
  }, 30_000);

  /** The block of a dump of `shop` over TCP with the password file. */
  function shopTask(extra: Record<string, unknown> = {}) {
    return postgresqlTaskSchema.parse({
      database: "shop",
      hostname: "127.0.0.1",
      port: postgres.port,
      username: "postgres",
      password_file: passwordFile,
      ...extra,
    });
  }

  /** The pg tools of the harness's server version. */
  function tools() {
    return {
      pg_dump_cmd: [join(postgres.binDir, "pg_dump")],
      pg_dumpall_cmd: [join(postgres.binDir, "pg_dumpall")],
    };
  }

  test("a plain dump restored into a fresh database gives the same rows", async () => {
    const run = await runTasks(join(root, "plain"), [{ key: "postgresql", options: shopTask() }], {
      tools: tools(),
    });
    expect(run.outcome.status).toBe("ok");
    expect(run.outcome.tasks[0]?.outputs).toEqual(["databases/shop.sql"]);
    const dump = join(run.outputDir, "databases", "shop.sql");
    expect(await readFile(dump, "utf8")).not.toContain(postgres.password);

    await postgres.createDatabase("restored_plain");
    await runCommand([
      join(postgres.binDir, "psql"),
      "--no-psqlrc",
      "--quiet",
      "--set=ON_ERROR_STOP=1",
      `--host=${postgres.socketDir}`,
      `--port=${postgres.port}`,
      "--username=postgres",
      "--dbname=restored_plain",
      `--file=${dump}`,
    ]);
    const original = await postgres.psql(selectItems, { database: "shop" });
    expect(original[0]?.[0]).toBe("2001");
    expect(await postgres.psql(selectItems, { database: "restored_plain" })).toEqual(original);
  }, 60_000);

  test("a custom-format dump restored with pg_restore gives the same rows", async () => {
    const run = await runTasks(
      join(root, "custom"),
      [{ key: "postgresql", options: shopTask({ format: "custom" }) }],
      {
        tools: tools(),
      },
    );
    expect(run.outcome.status).toBe("ok");
    expect(run.outcome.tasks[0]?.outputs).toEqual(["databases/shop.dump"]);
    await postgres.createDatabase("restored_custom");
    await runCommand([
      join(postgres.binDir, "pg_restore"),
      "--exit-on-error",
      `--host=${postgres.socketDir}`,
      `--port=${postgres.port}`,
      "--username=postgres",
      "--dbname=restored_custom",
      join(run.outputDir, "databases", "shop.dump"),
    ]);
    expect(await postgres.psql(selectItems, { database: "restored_custom" })).toEqual(
      await postgres.psql(selectItems, { database: "shop" }),
    );
  }, 60_000);

  test("database: all dumps the whole cluster with pg_dumpall into databases/all.sql", async () => {
    const run = await runTasks(
      join(root, "all"),
      [{ key: "postgresql", options: shopTask({ database: "all" }) }],
      {
        tools: tools(),
      },
    );
    expect(run.outcome.status).toBe("ok");
    const dump = await readFile(join(run.outputDir, "databases", "all.sql"), "utf8");
    expect(dump).toContain("CREATE DATABASE shop");
    expect(dump).toContain("-- PostgreSQL database cluster dump complete");
  }, 60_000);

  test("a dump that fails halfway fails the task and its file is removed", async () => {
    const wrapper = await writeScript(
      join(root, "failing-pg_dump"),
      `#!/bin/bash\n"${join(postgres.binDir, "pg_dump")}" "$@" | head -c 20000\necho "pg_dump: error: connection lost" >&2\nexit 1\n`,
    );
    const context = testContext(join(root, "halfway"), {
      taskKey: "postgresql",
      tools: { pg_dump_cmd: [wrapper] },
    });
    await expect(postgresqlPlugin.dump?.(shopTask(), context)).rejects.toThrow(
      /failed with exit code 1: pg_dump: error: connection lost/,
    );
    expect(await readdir(join(context.outputDir, "databases"))).toEqual([]);

    // through the lifecycle the service fails and nothing of it is left for the archive
    const run = await runTasks(join(root, "halfway-service"), [{ key: "postgresql", options: shopTask() }], {
      tools: { pg_dump_cmd: [wrapper] },
    });
    expect(run.outcome.status).toBe("failed");
    expect(run.outcome.error).toContain("postgresql:");
    expect(existsSync(run.outputDir)).toBe(false);
  }, 60_000);

  test("a plain dump that exits 0 without its end marker does not count", async () => {
    const wrapper = await writeScript(
      join(root, "truncating-pg_dump"),
      `#!/bin/bash\n"${join(postgres.binDir, "pg_dump")}" "$@" | head -c 20000\nexit 0\n`,
    );
    const context = testContext(join(root, "truncated"), {
      taskKey: "postgresql",
      tools: { pg_dump_cmd: [wrapper] },
    });
    await expect(postgresqlPlugin.dump?.(shopTask(), context)).rejects.toThrow(
      /"databases\/shop.sql" does not end with "-- PostgreSQL database dump complete"/,
    );
    expect(await readdir(join(context.outputDir, "databases"))).toEqual([]);
  }, 60_000);

  test("a custom dump cut short is caught although pg_restore --list would accept it", async () => {
    const full = join(root, "full.dump");
    await runCommand([
      join(postgres.binDir, "pg_dump"),
      "--format=custom",
      `--host=${postgres.socketDir}`,
      `--port=${postgres.port}`,
      "--username=postgres",
      "--dbname=shop",
      `--file=${full}`,
    ]);
    const cut = join(root, "cut.dump");
    await runCommand(["bash", "-c", `head -c 3000 "${full}" > "${cut}"`]);
    const listed = await runCommand([join(postgres.binDir, "pg_restore"), "--list", cut], {
      allowFailure: true,
    });
    expect(listed.exitCode).toBe(0);

    const wrapper = await writeScript(join(root, "cut-pg_dump"), `#!/bin/bash\ncat "${cut}"\n`);
    const context = testContext(join(root, "cut"), {
      taskKey: "postgresql",
      tools: { pg_dump_cmd: [wrapper] },
    });
    await expect(postgresqlPlugin.dump?.(shopTask({ format: "custom" }), context)).rejects.toThrow(
      /The dump of database "shop" is not readable/,
    );
    expect(await readdir(join(context.outputDir, "databases"))).toEqual([]);
  }, 60_000);

  test("a database that does not exist fails the task with pg_dump's reason", async () => {
    const context = testContext(join(root, "missing"), { taskKey: "postgresql", tools: tools() });
    await expect(postgresqlPlugin.dump?.(shopTask({ database: "nosuch" }), context)).rejects.toThrow(
      /database "nosuch" does not exist/,
    );
    expect(await readdir(join(context.outputDir, "databases"))).toEqual([]);
  }, 30_000);
});
