// The PostgreSQL harness answers queries over its socket and requires the password over TCP.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type PostgresHandle, startPostgres } from "../postgres.ts";
import { runCommand } from "../process.ts";
import { makeTempDir, removeTempDir } from "../tmp.ts";

describe("postgres harness", () => {
  let postgres: PostgresHandle;
  let scratch: string;
  beforeAll(async () => {
    [postgres, scratch] = await Promise.all([startPostgres(), makeTempDir()]);
  }, 60_000);
  afterAll(async () => {
    await postgres?.stop();
    if (scratch) await removeTempDir(scratch);
  }, 30_000);

  test("answers an SQL query", async () => {
    expect(await postgres.psql("SELECT 40 + 2, current_user")).toEqual([["42", "postgres"]]);
  });

  test("creates a database that keeps rows", async () => {
    await postgres.createDatabase("shop");
    await postgres.psql("CREATE TABLE item (name text); INSERT INTO item VALUES ('tea'), ('rice')", {
      database: "shop",
    });
    expect(await postgres.psql("SELECT name FROM item ORDER BY name", { database: "shop" })).toEqual([
      ["rice"],
      ["tea"],
    ]);
  });

  /** Runs psql over TCP as the superuser with `passwordFile` as PGPASSFILE. */
  async function psqlOverTcp(passwordFile: string) {
    return await runCommand(
      [
        join(postgres.binDir, "psql"),
        "--no-psqlrc",
        "--no-password",
        "--tuples-only",
        `--host=${postgres.host}`,
        `--port=${postgres.port}`,
        `--username=${postgres.superuser}`,
        "--command=SELECT 'over tcp'",
      ],
      { env: { PGPASSFILE: passwordFile, PGPASSWORD: undefined }, allowFailure: true },
    );
  }

  test("logs in over TCP with the password from a password file", async () => {
    const passwordFile = join(scratch, "pgpass");
    await writeFile(passwordFile, `127.0.0.1:${postgres.port}:*:postgres:${postgres.password}\n`, {
      mode: 0o600,
    });
    const result = await psqlOverTcp(passwordFile);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim()).toBe("over tcp");
  });

  test("refuses a TCP login with a wrong password", async () => {
    const passwordFile = join(scratch, "pgpass-wrong");
    await writeFile(passwordFile, `127.0.0.1:${postgres.port}:*:postgres:not-the-password\n`, {
      mode: 0o600,
    });
    const result = await psqlOverTcp(passwordFile);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain("password authentication failed");
  });
});
