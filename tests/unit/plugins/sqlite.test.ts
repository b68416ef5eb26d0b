import { describe, expect, test } from "bun:test";
import {
  quoteDotCommandArgument,
  sqliteBackupArgv,
  sqliteBackupPath,
  sqliteIntegrityArgv,
} from "../../../plugins/sqlite.ts";

describe("quoteDotCommandArgument", () => {
  const cases: [string, string][] = [
    ["/s/web/shop/databases/app.db", '"/s/web/shop/databases/app.db"'],
    ["/s/my data/app.db", '"/s/my data/app.db"'],
    ["/s/it's/app.db", `"/s/it's/app.db"`],
    ['/s/a"b/app.db', '"/s/a\\"b/app.db"'],
    ["/s/a\\b/app.db", '"/s/a\\\\b/app.db"'],
    ["/s/a\nb/app.db", '"/s/a\\nb/app.db"'],
  ];
  test.each(cases)("%s → %s", (value, expected) => {
    expect(quoteDotCommandArgument(value)).toBe(expected);
  });
});

describe("sqlite argv", () => {
  test(".backup from the source file into the quoted destination, no ~/.sqliterc", () => {
    expect(sqliteBackupArgv(["sqlite3"], "/srv/app/app.db", "/s/databases/app.db")).toEqual([
      "sqlite3",
      "-batch",
      "-bail",
      "-init",
      "/dev/null",
      "-cmd",
      ".timeout 30000",
      "/srv/app/app.db",
      '.backup "/s/databases/app.db"',
    ]);
  });

  test("integrity check of the copy", () => {
    expect(sqliteIntegrityArgv(["sqlite3"], "/s/databases/app.db")).toEqual([
      "sqlite3",
      "-batch",
      "-bail",
      "-init",
      "/dev/null",
      "/s/databases/app.db",
      "PRAGMA integrity_check",
    ]);
  });

  test("the copy keeps the file name", () => {
    expect(sqliteBackupPath({ path: "/srv/app/data/app.sqlite3" })).toBe("databases/app.sqlite3");
  });
});
