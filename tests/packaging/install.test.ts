// The install test: the three .debs installed with apt into a throwaway Debian 12 root (a copy of the
// cached debootstrap, entered with chroot), then checked there: files and modes, the binary, the
// configuration, the installed units, and what reinstall, remove and purge keep and remove. The tests
// run in order on one root, as an admin would go through these steps.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import {
  changelogVersion,
  debPath,
  freshRoot,
  inRoot,
  inRootOk,
  packagesDir,
  run,
  statInRoot,
  type TestRoot,
} from "./support.ts";

const packageNames = ["backup-common", "backup-client", "backup-server"];
const units = ["local-backup", "backup-server", "restic-maintenance"].flatMap((name) => [
  `${name}.service`,
  `${name}.timer`,
]);

let root: TestRoot;

/** Our timers and services, not e.g. dpkg-db-backup.timer. */
const ourUnit = /(^|\/)(local-backup|backup-server|restic-maintenance)\.(timer|service)/;

/** Where apt and deb-systemd-helper record the timers' enablement inside the root. */
function enablementFiles(): string[] {
  const places = ["etc/systemd/system/timers.target.wants", "var/lib/systemd/deb-systemd-helper-enabled"];
  return places.flatMap((place) => {
    const directory = path.join(root.path, place);
    return existsSync(directory) ? readdirSync(directory, { recursive: true }).map(String) : [];
  });
}

/** dpkg's state of each of our packages in the root ("ii", "rc", or "" when unknown). */
async function packageStates(): Promise<Record<string, string>> {
  const states: Record<string, string> = {};
  for (const name of packageNames) {
    const result = await inRoot(root.path, [
      "dpkg-query",
      "--show",
      "--showformat=${db:Status-Abbrev}",
      name,
    ]);
    states[name] = result.exitCode === 0 ? result.stdout.trim() : "";
  }
  return states;
}

beforeAll(async () => {
  await packagesDir();
  root = await freshRoot();
  mkdirSync(path.join(root.path, "tmp/debs"));
  for (const name of packageNames) {
    const deb = await debPath(name);
    copyFileSync(deb, path.join(root.path, "tmp/debs", path.basename(deb)));
  }
}, 900_000);

afterAll(() => root?.remove(), 120_000);

describe("install test in a Debian 12 root", () => {
  test("apt installs the three .debs, finding their dependencies in the root", async () => {
    const debs = readdirSync(path.join(root.path, "tmp/debs")).map((name) => `/tmp/debs/${name}`);
    await inRootOk(root.path, ["apt-get", "install", "--yes", "--no-install-recommends", ...debs]);
    expect(await packageStates()).toEqual({
      "backup-common": "ii",
      "backup-client": "ii",
      "backup-server": "ii",
    });
  }, 300_000);

  test("the configuration files are 0600 root:root conffiles; the state directory is 0700", async () => {
    for (const name of ["common_config.yml", "client_config.yml", "server_config.yml"])
      expect({ [name]: await statInRoot(root.path, `/etc/backup/${name}`) }).toEqual({
        [name]: "600 root:root",
      });
    expect(await statInRoot(root.path, "/var/lib/backupctl")).toBe("700 root:root");
    expect(await statInRoot(root.path, "/usr/bin/backupctl")).toBe("755 root:root");
    expect(await statInRoot(root.path, "/opt/backup/lib/plugins/README.md")).toBe("644 root:root");
    const conffiles = await inRootOk(root.path, [
      "dpkg-query",
      "--show",
      "--showformat=${Conffiles}\n",
      ...packageNames,
    ]);
    for (const name of ["common_config.yml", "client_config.yml", "server_config.yml"])
      expect(conffiles).toContain(`/etc/backup/${name} `);
  });

  test("backupctl --version runs inside the root", async () => {
    const version = await inRootOk(root.path, ["backupctl", "--version"]);
    expect(version).toStartWith(`backupctl ${changelogVersion()} (commit `);
  });

  test("config validate passes on the installed configuration", async () => {
    const output = await inRootOk(root.path, ["backupctl", "config", "validate"]);
    expect(output).toContain("0 errors, 0 warnings in 3 files");
  });

  test("config validate passes on the example services copied into /etc/backup as the README says", async () => {
    const examples = "/usr/share/doc/backup-client/examples";
    const types = readdirSync(path.join(root.path, examples)).filter((name) => name !== "plugins");
    expect(types.length).toBeGreaterThan(0);
    await inRootOk(root.path, ["cp", "-r", ...types.map((type) => `${examples}/${type}`), "/etc/backup/"]);
    await inRootOk(root.path, [
      "find",
      "/etc/backup",
      "-name",
      "service.y*ml",
      "-exec",
      "chmod",
      "600",
      "{}",
      "+",
    ]);
    const output = await inRootOk(root.path, ["backupctl", "config", "validate"]);
    expect(output).toMatch(/^0 errors, 0 warnings in \d+ files/m);
  });

  test("systemd-analyze verify reports nothing for the six units as installed", async () => {
    // --root: the units, the targets they name and the binary they run are the root's
    const result = await run([
      "systemd-analyze",
      "verify",
      `--root=${root.path}`,
      ...units.map((unit) => `/lib/systemd/system/${unit}`),
    ]);
    expect(`${result.stdout}${result.stderr}`).toBe("");
    expect(result.exitCode).toBe(0);

    // the same call does see a mistake: a misspelt key in a copy of one unit
    const broken = readFileSync(path.join(root.path, "lib/systemd/system/local-backup.service"), "utf8");
    writeFileSync(
      path.join(root.path, "etc/systemd/system/probe-broken.service"),
      broken.replace("Nice=10", "Nicee=10"),
    );
    try {
      const probe = await run([
        "systemd-analyze",
        "verify",
        `--root=${root.path}`,
        "/etc/systemd/system/probe-broken.service",
      ]);
      expect(`${probe.stdout}${probe.stderr}`).toContain("Unknown key 'Nicee'");
    } finally {
      rmSync(path.join(root.path, "etc/systemd/system/probe-broken.service"));
    }
  });

  test("installing enabled no timer", () => {
    expect(enablementFiles().filter((name) => ourUnit.test(name) && !name.endsWith(".dsh-also"))).toEqual([]);
  });

  test("a reinstall keeps an edited configuration file, its mode, and a timer the admin enabled", async () => {
    await inRootOk(root.path, ["systemctl", "enable", "local-backup.timer"]);
    const clientConfig = path.join(root.path, "etc/backup/client_config.yml");
    const edited = `${readFileSync(clientConfig, "utf8")}\n# edited by the admin\n`;
    await inRootOk(root.path, ["sh", "-c", "cat > /etc/backup/client_config.yml"], { input: edited });
    const debs = readdirSync(path.join(root.path, "tmp/debs")).map((name) => `/tmp/debs/${name}`);
    await inRootOk(root.path, ["dpkg", "--install", ...debs]);
    expect(readFileSync(clientConfig, "utf8")).toBe(edited);
    expect(await statInRoot(root.path, "/etc/backup/client_config.yml")).toBe("600 root:root");
    expect(enablementFiles()).toContain("local-backup.timer");
  }, 300_000);

  test("purging client and server removes their configuration and timer links", async () => {
    await inRootOk(root.path, ["apt-get", "purge", "--yes", "backup-client", "backup-server"]);
    expect(await packageStates()).toEqual({
      "backup-common": "ii",
      "backup-client": "",
      "backup-server": "",
    });
    expect(existsSync(path.join(root.path, "etc/backup/client_config.yml"))).toBe(false);
    expect(existsSync(path.join(root.path, "etc/backup/server_config.yml"))).toBe(false);
    expect(enablementFiles().filter((name) => ourUnit.test(name))).toEqual([]);
  }, 300_000);

  test("removing backup-common keeps its configuration and the run state; purging removes both", async () => {
    // what a run leaves: state, and files the admin added to /etc/backup (keys, password files)
    await inRootOk(root.path, [
      "sh",
      "-c",
      "mkdir -p /var/lib/backupctl/server && echo '{}' > /var/lib/backupctl/server/state.json",
    ]);
    await inRootOk(root.path, ["sh", "-c", "umask 077 && echo secret > /etc/backup/restic.pass"]);

    await inRootOk(root.path, ["apt-get", "remove", "--yes", "backup-common"]);
    expect((await packageStates())["backup-common"]).toBe("rc");
    expect(existsSync(path.join(root.path, "usr/bin/backupctl"))).toBe(false);
    expect(existsSync(path.join(root.path, "etc/backup/common_config.yml"))).toBe(true);
    expect(existsSync(path.join(root.path, "var/lib/backupctl/server/state.json"))).toBe(true);

    await inRootOk(root.path, ["apt-get", "purge", "--yes", "backup-common"]);
    expect((await packageStates())["backup-common"]).toBe("");
    expect(existsSync(path.join(root.path, "etc/backup/common_config.yml"))).toBe(false);
    expect(existsSync(path.join(root.path, "var/lib/backupctl"))).toBe(false);
    expect(existsSync(path.join(root.path, "opt/backup"))).toBe(false);
    // never the admin's own files: losing restic.pass would lose every repository
    expect(readFileSync(path.join(root.path, "etc/backup/restic.pass"), "utf8")).toBe("secret\n");
    expect(existsSync(path.join(root.path, "etc/backup/files"))).toBe(true);
  }, 300_000);
});
