// The sqlite task against the real sqlite3 shell: an online copy that passes the integrity check, a
// destination path that needs quoting, and a damaged database that fails without leaving a copy.

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sqliteTaskSchema } from "../../../mod/config/tasks/sqlite.ts";
import { sqlitePlugin } from "../../../plugins/sqlite.ts";
import { makeTempDir, removeTempDir } from "../../harness/tmp.ts";
import { testContext } from "../../unit/plugins/context.ts";
import { runTasks } from "./fixtures.ts";

describe("sqlite task", () => {
  let root: string;
  beforeAll(async () => {
    root = await makeTempDir("bkpctl-sqlite-");
  });
  afterAll(async () => {
    if (root) await removeTempDir(root);
  });

  /** Creates a WAL-mode database with rows and returns its path and the open writer. */
  function createDatabase(path: string): Database {
    const database = new Database(path, { create: true });
    database.run("PRAGMA journal_mode = WAL");
    database.run("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)");
    const insert = database.prepare("INSERT INTO item (name) VALUES (?)");
    for (let index = 0; index < 500; index++) insert.run(`item ${index}`);
    return database;
  }

  test("copies a database in use into databases/ with the same rows", async () => {
    const source = join(root, "app data", "app.db");
    await mkdir(join(root, "app data"));
    // the writer stays open: its last rows are still in the WAL file, which .backup must include
    const writer = createDatabase(source);
    try {
      const run = await runTasks(join(root, "ok"), [
        { key: "sqlite", options: sqliteTaskSchema.parse({ path: source }) },
      ]);
      expect(run.outcome.status).toBe("ok");
      expect(run.outcome.tasks[0]?.outputs).toEqual(["databases/app.db"]);
      const copy = new Database(join(run.outputDir, "databases", "app.db"), { readonly: true });
      expect(copy.query("SELECT count(*) AS n, max(name) AS last FROM item").get()).toEqual({
        n: 500,
        last: "item 99",
      });
      copy.close();
    } finally {
      writer.close();
    }
  });

  test("writes into a staging path with quotes and spaces", async () => {
    const source = join(root, "quoted.db");
    createDatabase(source).close();
    const staging = join(root, `it's a "dir"`);
    const context = testContext(staging, { taskKey: "sqlite" });
    const report = await sqlitePlugin.dump?.(sqliteTaskSchema.parse({ path: source }), context);
    expect(report?.outputs).toEqual(["databases/quoted.db"]);
    expect(existsSync(join(context.outputDir, "databases", "quoted.db"))).toBe(true);
  });

  test("fails on a damaged database and leaves no copy", async () => {
    const source = join(root, "damaged.db");
    await writeFile(
      source,
      "this is not an SQLite database, just text that is long enough to look like one".repeat(100),
    );
    const context = testContext(join(root, "damaged"), { taskKey: "sqlite" });
    const dump = sqlitePlugin.dump?.(sqliteTaskSchema.parse({ path: source }), context);
    await expect(dump).rejects.toThrow(/sqlite3|integrity/);
    expect(await readdir(join(context.outputDir, "databases"))).toEqual([]);
  });

  test("refuses a missing database instead of letting sqlite3 create an empty one", async () => {
    const source = join(root, "missing.db");
    const context = testContext(join(root, "missing"), { taskKey: "sqlite" });
    await expect(sqlitePlugin.dump?.(sqliteTaskSchema.parse({ path: source }), context)).rejects.toThrow(
      `Database file "${source}" not found`,
    );
    expect(existsSync(source)).toBe(false);
  });
});
