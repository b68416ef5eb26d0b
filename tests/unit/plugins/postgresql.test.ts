import { describe, expect, test } from "bun:test";
import { postgresqlTaskSchema } from "../../../mod/config/tasks/postgresql.ts";
import {
  clusterDumpMarker,
  databaseDumpMarker,
  hasCompletionMarker,
  pgpassLine,
  pgRestoreCheckArgv,
  pgRestoreCommand,
  postgresqlDatabaseArgument,
  postgresqlDumpArgv,
  postgresqlDumpPath,
} from "../../../plugins/postgresql.ts";

const password = "CANARY-pg-7f3a";

describe("postgresqlDumpArgv", () => {
  const cases: [string, Record<string, unknown>, string[], string[]][] = [
    [
      "plain format with the default user and --dbname=",
      { database: "shop" },
      ["pg_dump"],
      ["pg_dump", "--format=plain", "--username=postgres", "--no-password", "--dbname=shop"],
    ],
    [
      "custom format, host, port, user, options and a password file that stays out of argv",
      {
        database: "shop",
        format: "custom",
        hostname: "db.local",
        port: 5433,
        username: "backup",
        password_file: "/etc/backup/secrets/pg",
        dump_options: "--exclude-table='audit log' --no-owner",
      },
      ["/usr/lib/postgresql/15/bin/pg_dump"],
      [
        "/usr/lib/postgresql/15/bin/pg_dump",
        "--format=custom",
        "--host=db.local",
        "--port=5433",
        "--username=backup",
        "--no-password",
        "--exclude-table=audit log",
        "--no-owner",
        "--dbname=shop",
      ],
    ],
    [
      "pg_dumpall for all, without --format or --dbname",
      { database: "all", hostname: "/run/postgresql" },
      ["pg_dumpall"],
      ["pg_dumpall", "--host=/run/postgresql", "--username=postgres", "--no-password"],
    ],
    [
      "inside a compose service",
      { database: "shop", container: "db", username: "shop" },
      ["docker", "compose", "--file", "/srv/shop/compose.yml", "exec", "-T", "db", "pg_dump"],
      [
        "docker",
        "compose",
        "--file",
        "/srv/shop/compose.yml",
        "exec",
        "-T",
        "db",
        "pg_dump",
        "--format=plain",
        "--username=shop",
        "--no-password",
        "--dbname=shop",
      ],
    ],
    [
      "a name that looks like a connection string is quoted as dbname",
      { database: "host=evil user=x" },
      ["pg_dump"],
      [
        "pg_dump",
        "--format=plain",
        "--username=postgres",
        "--no-password",
        "--dbname=dbname='host=evil user=x'",
      ],
    ],
  ];
  test.each(cases)("%s", (_name, block, program, expected) => {
    const task = postgresqlTaskSchema.parse(block);
    const argv = postgresqlDumpArgv(task, program);
    expect(argv).toEqual(expected);
    expect(argv.join(" ")).not.toContain(password);
  });
});

describe("postgresqlDatabaseArgument", () => {
  const cases: [string, string][] = [
    ["shop", "shop"],
    ["my shop", "my shop"],
    ["a=b", "dbname='a=b'"],
    ["postgresql://evil/x", "dbname='postgresql://evil/x'"],
    ["it's=\\", "dbname='it\\'s=\\\\'"],
  ];
  test.each(cases)("%s → %s", (name, expected) => {
    expect(postgresqlDatabaseArgument(name)).toBe(expected);
  });
});

describe("postgresqlDumpPath", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ database: "shop" }, "databases/shop.sql"],
    [{ database: "shop", format: "custom" }, "databases/shop.dump"],
    [{ database: "all" }, "databases/all.sql"],
    [{ database: "../etc/passwd" }, "databases/%2E.%2Fetc%2Fpasswd.sql"],
  ];
  test.each(cases)("%j → %s (no date in the name)", (block, expected) => {
    expect(postgresqlDumpPath(postgresqlTaskSchema.parse(block))).toBe(expected);
  });
});

describe("pgpassLine", () => {
  test("matches every connection and escapes backslash and colon", () => {
    expect(pgpassLine("a:b\\c")).toBe("*:*:*:*:a\\:b\\\\c\n");
  });
});

describe("pgRestoreCommand", () => {
  const cases: [string, string[], boolean, string[]][] = [
    [
      "beside a configured pg_dump path",
      ["/usr/lib/postgresql/15/bin/pg_dump"],
      true,
      ["/usr/lib/postgresql/15/bin/pg_restore"],
    ],
    ["from PATH when there is none beside it", ["/opt/wrap/pg_dump"], false, ["pg_restore"]],
    ["from PATH for a plain pg_dump", ["pg_dump"], true, ["pg_restore"]],
  ];
  test.each(cases)("%s", (_name, pgDump, exists, expected) => {
    expect(pgRestoreCommand(pgDump, () => exists)).toEqual(expected);
  });

  test("reads a whole archive, from a file or stdin", () => {
    expect(pgRestoreCheckArgv(["pg_restore"], "/s/shop.dump")).toEqual([
      "pg_restore",
      "--file=/dev/null",
      "/s/shop.dump",
    ]);
    expect(pgRestoreCheckArgv(["pg_restore"])).toEqual(["pg_restore", "--file=/dev/null"]);
  });
});

describe("hasCompletionMarker", () => {
  const complete =
    "COPY x;\n\\.\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict AbC123\n\n";
  const cases: [string, string, string, boolean][] = [
    [
      "a complete dump of pg_dump 15.14 and later (\\unrestrict at the end)",
      complete,
      databaseDumpMarker,
      true,
    ],
    [
      "a complete dump of older versions",
      "x\n--\n-- PostgreSQL database dump complete\n--\n\n",
      databaseDumpMarker,
      true,
    ],
    ["a dump cut short", "COPY x;\n1\tfoo\n2\tba", databaseDumpMarker, false],
    ["an empty file", "", databaseDumpMarker, false],
    [
      "a marker followed by more SQL",
      "-- PostgreSQL database dump complete\nDROP TABLE x;\n",
      databaseDumpMarker,
      false,
    ],
    [
      "pg_dumpall: the cluster marker",
      `${complete}--\n-- PostgreSQL database cluster dump complete\n--\n\n`,
      clusterDumpMarker,
      true,
    ],
    ["pg_dumpall cut after the first database", complete, clusterDumpMarker, false],
  ];
  test.each(cases)("%s", (_name, tail, marker, expected) => {
    expect(hasCompletionMarker(tail, marker)).toBe(expected);
  });
});
