// restore: picking the snapshot and the service, the include paths, and telling dumps apart with
// the command that loads each.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BackupError } from "../../../mod/lib/errors.ts";
import type { Snapshot } from "../../../mod/restic/output.ts";
import { classifyDump, databaseOfFile, findDumps, loadCommand } from "../../../mod/restore/dumps.ts";
import {
  includePaths,
  resolveService,
  resticDumpArgs,
  selectSnapshot,
  snapshotRoot,
} from "../../../mod/restore/layout.ts";

/** Returns a snapshot of web01 at an ISO time. */
function snapshot(id: string, time: string): Snapshot {
  return {
    id: id.padEnd(64, "0"),
    shortId: id.slice(0, 8),
    time: new Date(time),
    host: "web01",
    tags: ["backupctl"],
    paths: ["/var/tmp/backup_server_work/web01/data"],
  };
}

describe("selectSnapshot", () => {
  const snapshots = [
    snapshot("aa11", "2026-11-24T02:00:00Z"),
    snapshot("bb22", "2026-11-26T02:00:00Z"),
    snapshot("ab33", "2026-11-25T02:00:00Z"),
  ];
  test("latest is the newest by time", () =>
    expect(selectSnapshot(snapshots, { wanted: "latest", host: "web01" }).shortId).toBe("bb22"));
  test("an ID prefix picks its snapshot", () =>
    expect(selectSnapshot(snapshots, { wanted: "ab3", host: "web01" }).shortId).toBe("ab33"));
  const refused: [string, string][] = [
    ["a prefix two snapshots share", "a"],
    ["an ID no snapshot has", "cc"],
    ["something that is no ID", "--target=/"],
  ];
  for (const [name, wanted] of refused) {
    test(`refuses ${name} as a usage error`, () => {
      const error = (() => {
        try {
          selectSnapshot(snapshots, { wanted: wanted, host: "web01" });
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(BackupError);
      expect((error as BackupError).code).toBe("usage");
    });
  }
  test("an empty repository is an error", () =>
    expect(() => selectSnapshot([], { wanted: "latest", host: "web01" })).toThrow(/holds no snapshot/));
});

describe("snapshotRoot and includePaths", () => {
  test("the root is the snapshot's one path", () => {
    expect(snapshotRoot(snapshot("aa", "2026-11-26T00:00:00Z"))).toBe(
      "/var/tmp/backup_server_work/web01/data",
    );
  });
  test("a snapshot of several paths is not backupctl's", () => {
    expect(() => snapshotRoot({ ...snapshot("aa", "2026-11-26T00:00:00Z"), paths: ["/a", "/b"] })).toThrow(
      BackupError,
    );
  });
  test("one service brings the manifest along", () => {
    expect(includePaths("/w/web01/data", { type: "docker", name: "app" })).toEqual([
      "/w/web01/data/manifest.json",
      "/w/web01/data/docker/app",
    ]);
  });
  test("no service restores everything", () => expect(includePaths("/w/web01/data", undefined)).toEqual([]));
  test("the manifest is read with restic dump, without a lock, the path after --", () => {
    expect(resticDumpArgs("abc123", { path: "/w/web01/data/manifest.json" })).toEqual([
      "--no-lock",
      "dump",
      "--",
      "abc123",
      "/w/web01/data/manifest.json",
    ]);
  });
});

describe("resolveService", () => {
  const services = [
    { type: "docker", name: "app" },
    { type: "files", name: "etc" },
    { type: "sqlite", name: "etc" },
  ];
  test("by name", () => expect(resolveService(services, "app")).toEqual({ type: "docker", name: "app" }));
  test("by type/name", () =>
    expect(resolveService(services, "sqlite/etc")).toEqual({ type: "sqlite", name: "etc" }));
  test("an ambiguous name asks for type/name", () =>
    expect(() => resolveService(services, "etc")).toThrow(/2 services/));
  test("an unknown name lists the services", () =>
    expect(() => resolveService(services, "web")).toThrow(/no such service/));
});

describe("classifyDump and loadCommand", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const cases: [string, string, string][] = [
    ["pg_dump plain", "--\n-- PostgreSQL database dump\n--\n", "postgresql-plain"],
    ["pg_dumpall", "--\n-- PostgreSQL database cluster dump\n--\n", "postgresql-cluster"],
    ["pg_dump custom", "PGDMP\u0001\u000e", "postgresql-custom"],
    ["mariadb-dump", "-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n", "mariadb"],
    ["mysqldump", "-- MySQL dump 10.13  Distrib 8.0\n", "mariadb"],
    ["sqlite", "SQLite format 3\u0000\u0010\u0000", "sqlite"],
    ["anything else", "hello\n", "unknown"],
  ];
  for (const [name, head, kind] of cases) {
    test(`${name} is ${kind}`, () => expect(classifyDump(bytes(head))).toBe(kind as never));
  }
  test("the database comes from the file name, escapes undone", () => {
    expect(databaseOfFile("app.sql")).toBe("app");
    expect(databaseOfFile("my%20db.dump")).toBe("my db");
  });
  test("load commands quote paths and names", () => {
    expect(
      loadCommand("postgresql-plain", "/r/docker/app/databases/my db.sql", { database: "my db" }).command,
    ).toBe(
      "createdb 'my db' && psql --set=ON_ERROR_STOP=1 --dbname='my db' --file='/r/docker/app/databases/my db.sql'",
    );
    expect(loadCommand("postgresql-custom", "/r/a.dump", { database: "a" }).command).toBe(
      "createdb a && pg_restore --dbname=a /r/a.dump",
    );
    expect(loadCommand("mariadb", "/r/shop.sql").command).toBe("mariadb < /r/shop.sql");
    expect(loadCommand("sqlite", "/r/app.db", { originalPath: "/srv/app/app.db" }).command).toBe(
      "cp --preserve=mode /r/app.db /srv/app/app.db",
    );
  });
});

describe("findDumps", () => {
  const target = mkdtempSync(join(tmpdir(), "backupctl-restore-dumps-"));
  afterAll(() => rmSync(target, { recursive: true, force: true }));

  test("finds each service's dumps, SQLite with the path from the service file it was made with", async () => {
    mkdirSync(join(target, "docker/app/databases"), { recursive: true });
    mkdirSync(join(target, "sqlite/grafana/databases"), { recursive: true });
    mkdirSync(join(target, "sqlite/grafana/config_used"), { recursive: true });
    writeFileSync(join(target, "docker/app/databases/app.sql"), "--\n-- PostgreSQL database dump\n--\n");
    writeFileSync(join(target, "sqlite/grafana/databases/grafana.db"), "SQLite format 3\u0000rest");
    writeFileSync(
      join(target, "sqlite/grafana/config_used/service.yaml"),
      "service: {name: grafana}\nsqlite: {path: /var/lib/grafana/grafana.db}\n",
    );
    const dumps = await findDumps(target, [
      { type: "docker", name: "app" },
      { type: "sqlite", name: "grafana" },
    ]);
    expect(dumps.map((dump) => [dump.service, dump.kind, dump.database])).toEqual([
      ["docker/app", "postgresql-plain", "app"],
      ["sqlite/grafana", "sqlite", undefined],
    ]);
    expect(dumps[1]?.command).toContain("/var/lib/grafana/grafana.db");
  });
});
