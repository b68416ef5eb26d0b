// The MariaDB harness answers queries over its socket and requires root's password over TCP.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type MariadbHandle, startMariadb } from "../mariadb.ts";
import { runCommand } from "../process.ts";
import { makeTempDir, removeTempDir } from "../tmp.ts";

describe("mariadb harness", () => {
  let mariadb: MariadbHandle;
  let scratch: string;
  beforeAll(async () => {
    [mariadb, scratch] = await Promise.all([startMariadb(), makeTempDir()]);
  }, 60_000);
  afterAll(async () => {
    await mariadb?.stop();
    if (scratch) await removeTempDir(scratch);
  }, 60_000);

  test("answers an SQL query", async () => {
    expect(await mariadb.query("SELECT 40 + 2, CURRENT_USER()")).toEqual([["42", "root@localhost"]]);
  });

  test("creates a database that keeps rows", async () => {
    await mariadb.query(
      "CREATE DATABASE shop; CREATE TABLE shop.item (name TEXT); INSERT INTO shop.item VALUES ('tea'), ('rice')",
    );
    expect(await mariadb.query("SELECT name FROM item ORDER BY name", { database: "shop" })).toEqual([
      ["rice"],
      ["tea"],
    ]);
  });

  /** Connects over TCP as root with the password from an option file, as a dump would. */
  async function selectOverTcp(password: string) {
    const optionFile = join(scratch, `client-${password.length}.cnf`);
    await writeFile(optionFile, `[client]\nuser=root\npassword=${password}\n`, { mode: 0o600 });
    return await runCommand(
      [
        "mariadb",
        `--defaults-extra-file=${optionFile}`,
        "--protocol=TCP",
        `--host=${mariadb.host}`,
        `--port=${mariadb.port}`,
        "--batch",
        "--skip-column-names",
        "--execute=SELECT 'over tcp'",
      ],
      { allowFailure: true, env: { MYSQL_PWD: undefined } },
    );
  }

  test("logs in over TCP with the password from an option file", async () => {
    const result = await selectOverTcp(mariadb.rootPassword);
    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("over tcp");
  });

  test("refuses a TCP login with a wrong password", async () => {
    const result = await selectOverTcp("wrong");
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain("Access denied");
  });
});
