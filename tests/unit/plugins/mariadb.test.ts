import { describe, expect, test } from "bun:test";
import { mariadbTaskSchema } from "../../../mod/config/tasks/mariadb.ts";
import { toolsSchema } from "../../../mod/config/tools.ts";
import {
  isCompleteMariadbDump,
  mariadbDumpArgv,
  mariadbDumpCommand,
  mariadbDumpPath,
  mariadbOptionFileText,
} from "../../../plugins/mariadb.ts";

const password = "CANARY-my-91c2";

describe("mariadbDumpArgv", () => {
  const cases: [string, Record<string, unknown>, { optionFile?: string }, string[]][] = [
    [
      "defaults: one transaction, routines, events, triggers, user root, --databases -- name",
      { database: "shop" },
      {},
      [
        "mariadb-dump",
        "--single-transaction",
        "--routines",
        "--events",
        "--triggers",
        "--skip-dump-date",
        "--user=root",
        "--databases",
        "--",
        "shop",
      ],
    ],
    [
      "a password file becomes the option file, as the first option",
      {
        database: "all",
        hostname: "127.0.0.1",
        port: 3307,
        username: "backup",
        password_file: "/etc/backup/secrets/my",
        single_transaction: false,
        dump_options: ["--hex-blob"],
      },
      { optionFile: "/tmp/backupctl-secret-x/client.cnf" },
      [
        "mariadb-dump",
        "--defaults-extra-file=/tmp/backupctl-secret-x/client.cnf",
        "--routines",
        "--events",
        "--triggers",
        "--skip-dump-date",
        "--host=127.0.0.1",
        "--port=3307",
        "--user=backup",
        "--hex-blob",
        "--all-databases",
      ],
    ],
  ];
  test.each(cases)("%s", (_name, block, options, expected) => {
    const argv = mariadbDumpArgv(mariadbTaskSchema.parse(block), ["mariadb-dump"], options);
    expect(argv).toEqual(expected);
    expect(argv.join(" ")).not.toContain(password);
  });
});

describe("mariadbDumpPath", () => {
  const cases: [string, string][] = [
    ["shop", "databases/shop.sql"],
    ["all", "databases/all-databases.sql"],
    ["shop/eu", "databases/shop%2Feu.sql"],
  ];
  test.each(cases)("%s → %s", (database, expected) => {
    expect(mariadbDumpPath({ database })).toBe(expected);
  });
});

describe("mariadbOptionFileText", () => {
  test("quotes the password so #, spaces and quotes survive", () => {
    expect(mariadbOptionFileText(`${password} #"\\`)).toBe(`[client]\npassword="${password} #\\"\\\\"\n`);
  });
});

describe("mariadbDumpCommand", () => {
  const tools = toolsSchema.parse({ mysqldump_cmd: ["/usr/bin/mysqldump"] });
  test("prefers mariadb-dump", () => {
    expect(mariadbDumpCommand(tools, () => true)).toEqual(["mariadb-dump"]);
  });
  test("falls back to mysqldump when mariadb-dump is not installed", () => {
    expect(mariadbDumpCommand(tools, () => false)).toEqual(["/usr/bin/mysqldump"]);
  });
});

describe("isCompleteMariadbDump", () => {
  const cases: [string, string, boolean][] = [
    [
      "ends with the completion line",
      "/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;\n\n-- Dump completed\n",
      true,
    ],
    ["with the date of older settings", "x;\n-- Dump completed on 2026-11-26  3:00:01\n", true],
    ["cut short", "INSERT INTO `item` VALUES (1,'tea'),(2,", false],
    ["empty", "", false],
  ];
  test.each(cases)("%s", (_name, tail, expected) => {
    expect(isCompleteMariadbDump(tail)).toBe(expected);
  });
});
