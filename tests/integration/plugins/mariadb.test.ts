// The mariadb task against a real MariaDB server from the harness: a dump with a password file that is
// restored into a fresh database, while /proc/*/cmdline is sampled to show the password never appears
// there; the mysql key; all databases; a database that does not exist.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { mariadbTaskSchema } from "../../../mod/config/tasks/mariadb.ts";
import { mariadbPlugin } from "../../../plugins/mariadb.ts";
import { type MariadbHandle, startMariadb } from "../../harness/mariadb.ts";
import { makeTempDir, removeTempDir } from "../../harness/tmp.ts";
import { testContext } from "../../unit/plugins/context.ts";
import { runTasks, writeScript } from "./fixtures.ts";

/** Every process's command line now, as one string each. */
function commandLines(): string[] {
  const lines: string[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      lines.push(readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " "));
    } catch {
      // the process ended meanwhile
    }
  }
  return lines;
}

describe("mariadb task", () => {
  let mariadb: MariadbHandle;
  let root: string;
  let passwordFile: string;

  beforeAll(async () => {
    [mariadb, root] = await Promise.all([startMariadb(), makeTempDir("bkpctl-mytask-")]);
    passwordFile = join(root, "root-password");
    await writeFile(passwordFile, `${mariadb.rootPassword}\n`, { mode: 0o600 });
    await mariadb.query(
      [
        "CREATE DATABASE shop",
        "CREATE TABLE shop.item (id INT PRIMARY KEY AUTO_INCREMENT, name TEXT, price DECIMAL(8,2)) ENGINE=InnoDB",
        "INSERT INTO shop.item (name, price) SELECT CONCAT('item ', seq), seq * 1.5 FROM shop.seq_1_to_2000",
        "INSERT INTO shop.item (name) VALUES ('it''s \"quoted\"\\ttab')",
        "CREATE PROCEDURE shop.cheap() SELECT * FROM shop.item WHERE price < 10",
      ].join(";\n"),
    );
  }, 60_000);
  afterAll(async () => {
    await mariadb?.stop();
    if (root) await removeTempDir(root);
  }, 60_000);

  /** The block of a dump over TCP as root with the password file. */
  function shopTask(extra: Record<string, unknown> = {}) {
    return mariadbTaskSchema.parse({
      database: "shop",
      hostname: "127.0.0.1",
      port: mariadb.port,
      username: "root",
      password_file: passwordFile,
      ...extra,
    });
  }

  const checksum =
    "SELECT COUNT(*), MD5(GROUP_CONCAT(id, name, IFNULL(price, 'null') ORDER BY id SEPARATOR '|')) FROM item";

  test("a dump with a password file restores into a fresh database; the password is never in a command line", async () => {
    // the wrapper holds the dump's command line in the process table for a while, so the sampler sees it
    const wrapper = await writeScript(
      join(root, "slow-mariadb-dump"),
      '#!/bin/bash\nsleep 1\nexec mariadb-dump "$@"\n',
    );
    const samples: string[] = [];
    let isSampling = true;
    const sampler = (async () => {
      while (isSampling) {
        samples.push(...commandLines().filter((line) => line.includes("mariadb-dump")));
        await Bun.sleep(20);
      }
    })();
    let run: Awaited<ReturnType<typeof runTasks>>;
    try {
      run = await runTasks(join(root, "dump"), [{ key: "mariadb", options: shopTask() }], {
        tools: { mariadb_dump_cmd: [wrapper] },
      });
    } finally {
      isSampling = false;
      await sampler;
    }
    expect(run.outcome.status).toBe("ok");
    expect(run.outcome.tasks[0]?.outputs).toEqual(["databases/shop.sql"]);
    expect(samples.some((line) => line.includes("--defaults-extra-file="))).toBe(true);
    expect(samples.filter((line) => line.includes(mariadb.rootPassword))).toEqual([]);

    const dump = await readFile(join(run.outputDir, "databases", "shop.sql"), "utf8");
    expect(dump.trimEnd().endsWith("-- Dump completed")).toBe(true);
    expect(dump).toContain("CREATE DEFINER=`root`@`localhost` PROCEDURE `cheap`");
    expect(dump).not.toContain(mariadb.rootPassword);

    // the dump creates and selects `shop`; restore it under another name
    await mariadb.query("CREATE DATABASE restored");
    await mariadb.query(dump.replaceAll("`shop`", "`restored`"), { database: "restored" });
    const original = await mariadb.query(checksum, { database: "shop" });
    expect(original[0]?.[0]).toBe("2001");
    expect(await mariadb.query(checksum, { database: "restored" })).toEqual(original);
  }, 60_000);

  test("the mysql key runs the same plugin", async () => {
    const run = await runTasks(join(root, "mysql"), [{ key: "mysql", options: shopTask() }]);
    expect(run.outcome.status).toBe("ok");
    expect(run.outcome.tasks[0]?.key).toBe("mysql");
    expect(await readdir(join(run.outputDir, "databases"))).toEqual(["shop.sql"]);
  }, 60_000);

  test("database: all dumps every database into all-databases.sql", async () => {
    const run = await runTasks(join(root, "all"), [
      { key: "mariadb", options: shopTask({ database: "all" }) },
    ]);
    expect(run.outcome.status).toBe("ok");
    const dump = await readFile(join(run.outputDir, "databases", "all-databases.sql"), "utf8");
    expect(dump).toContain("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop`");
    expect(dump).toContain("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `mysql`");
  }, 60_000);

  test("a wrong password fails the task and leaves no file", async () => {
    const wrongFile = join(root, "wrong-password");
    await writeFile(wrongFile, "not-the-password\n", { mode: 0o600 });
    const context = testContext(join(root, "wrong"), { taskKey: "mariadb" });
    await expect(mariadbPlugin.dump?.(shopTask({ password_file: wrongFile }), context)).rejects.toThrow(
      /Access denied/,
    );
    expect(await readdir(join(context.outputDir, "databases"))).toEqual([]);
  }, 30_000);

  test("a dump that exits 0 without its completion line does not count", async () => {
    const wrapper = await writeScript(
      join(root, "cut-mariadb-dump"),
      '#!/bin/bash\nmariadb-dump "$@" | head -c 5000\n',
    );
    const context = testContext(join(root, "cut"), {
      taskKey: "mariadb",
      tools: { mariadb_dump_cmd: [wrapper] },
    });
    await expect(mariadbPlugin.dump?.(shopTask(), context)).rejects.toThrow(
      /does not end with "-- Dump completed"/,
    );
    expect(await readdir(join(context.outputDir, "databases"))).toEqual([]);
  }, 30_000);
});
