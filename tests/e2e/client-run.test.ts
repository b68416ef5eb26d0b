// End-to-end: `backupctl client run` through the compiled binary, with files, SQLite and MariaDB
// services against real tools, a failing service, the SMTP capture, dry-run and the instance lock.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import {
  type MariadbHandle,
  makeTempDir,
  removeTempDir,
  type SmtpHandle,
  startMariadb,
  startMonitor,
  startSmtp,
} from "../harness/index.ts";
import { runBinary } from "./binary.ts";
import { runSync, snapshotTree, writeConfigFile, writeService } from "./fixtures.ts";

let root: string;
let configDir: string;
let baseDir: string;
let stateDir: string;
let smtp: SmtpHandle;
let mariadb: MariadbHandle;

/** Writes client_config.yml pointing at the test's dirs and the SMTP capture. */
function writeClientConfig(extra: Record<string, unknown> = {}): void {
  writeConfigFile(configDir, "client_config.yml", {
    hostname: "web01",
    base_backup_dir: baseDir,
    state_dir: stateDir,
    keep_days: 7,
    min_free_space_mb: 1,
    admin_email: "admin@example.org",
    mail: {
      transport: "smtp",
      from: "backup@web01.example.org",
      smtp: { host: "127.0.0.1", port: smtp.port, starttls: "disabled" },
    },
    lock_retries: 0,
    plugin_dir: join(root, "plugins"),
    ...extra,
  });
}

/** Runs `client run` with the test's config, limited to the given services when any are named. */
function clientRun(...services: string[]) {
  return runBinary([
    "client",
    "run",
    "--config-dir",
    configDir,
    ...services.flatMap((service) => ["--service", service]),
  ]);
}

/** Returns the final archives in base_backup_dir. */
function archives(): string[] {
  return readdirSync(baseDir)
    .filter((name) => /^web01-\d{8}_\d{6}\.tar\.(gz|zst)$/.test(name))
    .sort();
}

/** Extracts an archive into a fresh directory and returns it. */
function extract(archive: string): string {
  const target = join(root, `extract-${Math.random().toString(36).slice(2)}`);
  mkdirSync(target);
  runSync(["tar", "-xf", join(baseDir, archive), "-C", target]);
  return target;
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-e2e-client-");
  configDir = join(root, "etc");
  baseDir = join(root, "backups");
  stateDir = join(root, "state");
  [smtp, mariadb] = await Promise.all([startSmtp(), startMariadb()]);

  // files: two sources with the same basename, a symlink, and a file to exclude
  for (const source of ["srv/a/conf", "srv/b/conf"]) {
    mkdirSync(join(root, source), { recursive: true });
    writeFileSync(join(root, source, "settings.ini"), `from ${source}\n`);
    writeFileSync(join(root, source, "cache.tmp"), "excluded\n");
  }
  symlinkSync("settings.ini", join(root, "srv/a/conf/current"));
  // sqlite
  runSync(["sqlite3", join(root, "app.db"), "CREATE TABLE t(x); INSERT INTO t VALUES (1),(2),(3);"]);
  // mariadb
  await mariadb.query(
    "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY); INSERT INTO shop.orders VALUES (7),(8);",
  );
  const passwordFile = join(root, "mariadb.pass");
  writeFileSync(passwordFile, mariadb.rootPassword, { mode: 0o600 });

  // the example external plugin, installed as an admin would: root-owned, 0755, in a private dir
  mkdirSync(join(root, "plugins"), { mode: 0o755 });
  copyFileSync(
    resolve(import.meta.dir, "../../plugins/examples/package-list"),
    join(root, "plugins/package-list"),
  );
  chmodSync(join(root, "plugins/package-list"), 0o755);
  mkdirSync(configDir, { recursive: true, mode: 0o700 });
  writeClientConfig();
  writeService(configDir, "files", "conf", {
    files: { paths: [join(root, "srv/a/conf"), join(root, "srv/b/conf")], exclude: ["*.tmp"] },
  });
  writeService(configDir, "sqlite", "app", { sqlite: { path: join(root, "app.db") } });
  writeService(configDir, "system", "packages", { "package-list": { versions: true } });
  writeService(configDir, "db", "shop", {
    mariadb: {
      database: "shop",
      hostname: "127.0.0.1",
      port: mariadb.port,
      username: "root",
      password_file: passwordFile,
    },
  });
}, 120_000);

afterAll(async () => {
  await Promise.all([smtp?.stop(), mariadb?.stop()]);
  if (root) await removeTempDir(root);
});

describe("client run", () => {
  test("--dry-run changes nothing under base_backup_dir or the state dir and prints the plan", async () => {
    mkdirSync(baseDir, { recursive: true });
    const before = [...snapshotTree(baseDir), ...(existsSync(stateDir) ? snapshotTree(stateDir) : [])];
    const result = await runBinary(["client", "run", "--dry-run", "--config-dir", configDir]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("would run: ");
    expect(result.stderr).toContain("rsync");
    const after = [...snapshotTree(baseDir), ...(existsSync(stateDir) ? snapshotTree(stateDir) : [])];
    expect(after).toEqual(before);
    expect(smtp.messages).toHaveLength(0);
  });

  test("backs up files, SQLite, MariaDB and an external plugin into one verified archive with a matching sidecar", async () => {
    const result = await clientRun();
    expect(result.stderr).not.toContain("ERROR");
    expect(result.exitCode).toBe(0);
    const [archive] = archives();
    expect(archive).toBeDefined();
    const path = join(baseDir, archive as string);
    expect(statSync(path).mode & 0o777).toBe(0o640);
    const sidecar = readFileSync(`${path}.sha256`, "utf8");
    expect(sidecar.split("  ")[0]).toBe(runSync(["sha256sum", path]).split(" ")[0] as string);
    expect(readdirSync(baseDir).filter((name) => name.startsWith(".") || name.endsWith(".partial"))).toEqual(
      [],
    );

    const tree = extract(archive as string);
    const manifest = JSON.parse(readFileSync(join(tree, "manifest.json"), "utf8"));
    expect(manifest.host).toBe("web01");
    expect(manifest.status).toBe("ok");
    expect(
      manifest.services.map((service: { type: string; name: string }) => `${service.type}/${service.name}`),
    ).toEqual(["db/shop", "files/conf", "sqlite/app", "system/packages"]);
    // the external plugin's output, in its own directory
    expect(readFileSync(join(tree, "system/packages/package-list/selections.txt"), "utf8")).toContain(
      "install",
    );
    // full source paths kept: the two "conf" dirs do not merge
    const data = join(tree, "files/conf/data", root);
    expect(readFileSync(join(data, "srv/a/conf/settings.ini"), "utf8")).toBe("from srv/a/conf\n");
    expect(readFileSync(join(data, "srv/b/conf/settings.ini"), "utf8")).toBe("from srv/b/conf\n");
    expect(existsSync(join(data, "srv/a/conf/cache.tmp"))).toBe(false);
    expect(runSync(["readlink", join(data, "srv/a/conf/current")]).trim()).toBe("settings.ini");
    expect(existsSync(join(tree, "files/conf/config_used/service.yaml"))).toBe(true);
    // the SQLite copy is a consistent database with the rows
    const sqliteCopy = readdirSync(join(tree, "sqlite/app/databases"))[0] as string;
    expect(
      runSync(["sqlite3", join(tree, "sqlite/app/databases", sqliteCopy), "SELECT count(*) FROM t;"]).trim(),
    ).toBe("3");
    // the MariaDB dump is complete and holds the rows
    const dumpName = readdirSync(join(tree, "db/shop/databases"))[0] as string;
    const dump = readFileSync(join(tree, "db/shop/databases", dumpName), "utf8");
    expect(dump).toContain("INSERT INTO `orders`");
    expect(dump.trimEnd()).toMatch(/-- Dump completed/);
  });

  test("a service that fails is marked in the manifest, the others are archived, exit 3 and a mail", async () => {
    writeService(configDir, "files", "broken", { files: { paths: [join(root, "does-not-exist")] } });
    const before = archives();
    // a new archive name needs a new second
    await Bun.sleep(1100);
    const result = await clientRun();
    expect(result.exitCode).toBe(3);
    const created = archives().filter((name) => !before.includes(name));
    expect(created).toHaveLength(1);
    const tree = extract(created[0] as string);
    const manifest = JSON.parse(readFileSync(join(tree, "manifest.json"), "utf8"));
    expect(manifest.status).toBe("partial");
    const broken = manifest.services.find((service: { name: string }) => service.name === "broken");
    expect(broken.status).toBe("failed");
    expect(broken.error).toContain("does-not-exist");
    expect(existsSync(join(tree, "files/broken"))).toBe(false);
    expect(existsSync(join(tree, "files/conf/data"))).toBe(true);
    const [mail] = await smtp.waitForMessages(1, 15_000);
    expect(mail?.subject).toContain("web01");
    expect(mail?.subject).toContain("PARTIAL");
    expect(mail?.text).toContain("files/broken");
  });

  test("a second run while one is running exits 75 and does not disturb the first", async () => {
    writeService(configDir, "slow", "sleeper", { command: { argv: ["sleep", "3"], output: "sleep.out" } });
    await Bun.sleep(1100);
    const first = clientRun("slow/sleeper");
    await Bun.sleep(700);
    const second = await clientRun();
    expect(second.exitCode).toBe(75);
    expect(second.stderr).toContain("Another");
    const firstResult = await first;
    expect(firstResult.exitCode).toBe(0);
  }, 30_000);

  test("with ping: configured, a run pings start and success, a partial run start and failure; an unreachable monitor changes nothing", async () => {
    const monitor = startMonitor();
    const base = monitor.url("/check-token");
    writeClientConfig({
      ping: { start_url: `${base}/start`, success_url: base, failure_url: `${base}/fail`, timeout: "2s" },
    });
    try {
      await Bun.sleep(1100);
      const ok = await clientRun("files/conf");
      expect(ok.exitCode).toBe(0);
      expect(monitor.requests).toEqual(["GET /check-token/start", "GET /check-token"]);

      await Bun.sleep(1100);
      const partial = await clientRun("files/conf", "files/broken");
      expect(partial.exitCode).toBe(3);
      expect(monitor.requests.slice(2)).toEqual(["GET /check-token/start", "GET /check-token/fail"]);
      expect(partial.stderr).not.toContain("check-token");

      // a monitor that is gone: the run still succeeds, and says the ping failed
      monitor.stop();
      await Bun.sleep(1100);
      const unreachable = await clientRun("files/conf");
      expect(unreachable.exitCode).toBe(0);
      expect(unreachable.stderr).toMatch(
        /WARN .*Cannot ping the monitor at http:\/\/127\.0\.0\.1:\d+ \(start\)/,
      );
    } finally {
      monitor.stop();
      writeClientConfig();
    }
  }, 60_000);

  test("a files source that is suddenly empty (a filesystem not mounted) still archives, but warns and mails an alert", async () => {
    const source = join(root, "mounted");
    mkdirSync(source, { recursive: true });
    for (let index = 0; index < 150; index++)
      writeFileSync(join(source, `file-${index}.txt`), `record ${index}\n`);
    writeService(configDir, "files", "mounted", { files: { paths: [source] } });
    try {
      await Bun.sleep(1100);
      const full = await clientRun("files/mounted");
      expect(full.exitCode).toBe(0);
      expect(full.stderr).not.toContain("Alert:");

      for (let index = 0; index < 150; index++) rmSync(join(source, `file-${index}.txt`));
      const mailsBefore = smtp.messages.length;
      await Bun.sleep(1100);
      const empty = await clientRun("files/mounted");
      expect(empty.exitCode).toBe(0);
      expect(empty.stderr).toMatch(
        // what is left is the service's own config_used copy
        /WARN .*Alert: the service files\/mounted staged \d+ B in 1 file, less than half of the last run's [\d.]+ KiB in 151 files: check that its sources are mounted and complete/,
      );
      const mails = await smtp.waitForMessages(mailsBefore + 1, 15_000);
      expect(mails.at(-1)?.subject).toContain("web01 - Backup WARNING (1 alert(s))");
      expect(mails.at(-1)?.text).toMatch(/files\/mounted staged \d+ B in 1 file,/);
    } finally {
      rmSync(join(configDir, "files", "mounted"), { recursive: true, force: true });
    }
  }, 60_000);
});
