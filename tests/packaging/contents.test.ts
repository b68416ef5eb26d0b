// What the three .debs hold: exactly the documented files with their modes, the documented
// dependencies, conffiles, maintainer scripts that start nothing, and a binary debhelper left whole.

import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import {
  changelogVersion,
  debField,
  debListing,
  debPath,
  packagesDir,
  projectDir,
  run,
  runOk,
} from "./support.ts";

// outside scripts/check the packages are built first, which takes a minute or two
beforeAll(() => packagesDir(), 900_000);

const directory = "drwxr-xr-x root/root";
const file = "-rw-r--r-- root/root";
const secret = "-rw------- root/root";

/** The entries plus every directory leading to them (0755 root unless listed with other modes). */
function withParents(entries: string[]): string[] {
  const pathOf = (entry: string) => entry.slice(entry.lastIndexOf(" ") + 1);
  const listed = new Set(entries.map(pathOf));
  const lines = new Set([`${directory} /`, ...entries]);
  for (const entry of entries) {
    const parts = pathOf(entry).split("/").filter(Boolean);
    for (let depth = 1; depth < parts.length; depth++) {
      const parent = `/${parts.slice(0, depth).join("/")}/`;
      if (!listed.has(parent)) lines.add(`${directory} ${parent}`);
    }
  }
  return [...lines];
}

/** The example service files in configs/<type>/<name>/, as backup-client installs them. */
function exampleServiceFiles(): string[] {
  const files: string[] = [];
  const configs = path.join(projectDir, "configs");
  for (const type of readdirSync(configs).sort()) {
    if (!statSync(path.join(configs, type)).isDirectory()) continue;
    for (const name of readdirSync(path.join(configs, type)).sort()) {
      for (const entry of readdirSync(path.join(configs, type, name)).sort())
        files.push(`${type}/${name}/${entry}`);
    }
  }
  return files;
}

const doc = (packageName: string) => `/usr/share/doc/${packageName}`;

const expectedListings: Record<string, string[]> = {
  "backup-common": withParents([
    `${secret} /etc/backup/common_config.yml`,
    `${file} /opt/backup/lib/plugins/README.md`,
    "-rwxr-xr-x root/root /usr/bin/backupctl",
    `${file} ${doc("backup-common")}/README.md.gz`,
    `${file} ${doc("backup-common")}/changelog.gz`,
    `${file} ${doc("backup-common")}/copyright`,
    `${file} /usr/share/lintian/overrides/backup-common`,
    `${file} /usr/share/man/man1/backupctl.1.gz`,
    "drwx------ root/root /var/lib/backupctl/",
  ]),
  "backup-client": withParents([
    `${secret} /etc/backup/client_config.yml`,
    `${file} /lib/systemd/system/local-backup.service`,
    `${file} /lib/systemd/system/local-backup.timer`,
    `${file} ${doc("backup-client")}/README.Debian`,
    `${file} ${doc("backup-client")}/changelog.gz`,
    `${file} ${doc("backup-client")}/copyright`,
    ...exampleServiceFiles().map((example) => `${file} ${doc("backup-client")}/examples/${example}`),
    `-rwxr-xr-x root/root ${doc("backup-client")}/examples/plugins/package-list`,
    `${file} /usr/share/lintian/overrides/backup-client`,
  ]),
  "backup-server": withParents([
    `${secret} /etc/backup/server_config.yml`,
    `${file} /lib/systemd/system/backup-server.service`,
    `${file} /lib/systemd/system/backup-server.timer`,
    `${file} /lib/systemd/system/restic-maintenance.service`,
    `${file} /lib/systemd/system/restic-maintenance.timer`,
    `${file} ${doc("backup-server")}/README.Debian`,
    `${file} ${doc("backup-server")}/changelog.gz`,
    `${file} ${doc("backup-server")}/copyright`,
    `${file} /usr/share/lintian/overrides/backup-server`,
  ]),
};

describe("package contents", () => {
  for (const [packageName, expected] of Object.entries(expectedListings)) {
    test(`${packageName} holds exactly the documented files, modes and owners`, async () => {
      const listing = await debListing(await debPath(packageName));
      expect([...listing].sort()).toEqual([...expected].sort());
    });
  }

  test("every example service in configs/ is among backup-client's examples", async () => {
    const listing = await debListing(await debPath("backup-client"));
    const examples = exampleServiceFiles();
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples)
      expect(listing).toContain(`${file} ${doc("backup-client")}/examples/${example}`);
  });

  test("the configuration files are the conffiles, and nothing else is", async () => {
    const conffiles: Record<string, string> = {};
    for (const packageName of Object.keys(expectedListings)) {
      const control = mkdtempSync("/var/tmp/backupctl-control-");
      try {
        await runOk(["dpkg-deb", "--control", await debPath(packageName), control]);
        conffiles[packageName] = readFileSync(path.join(control, "conffiles"), "utf8").trim();
      } finally {
        rmSync(control, { recursive: true, force: true });
      }
    }
    expect(conffiles).toEqual({
      "backup-common": "/etc/backup/common_config.yml",
      "backup-client": "/etc/backup/client_config.yml",
      "backup-server": "/etc/backup/server_config.yml",
    });
  });
});

describe("package fields", () => {
  test("backup-common is the architecture-specific binary and depends only on libc", async () => {
    const deb = await debPath("backup-common");
    expect(await debField(deb, "Architecture")).toBe("amd64");
    expect(await debField(deb, "Depends")).toMatch(/^libc6 \(>= [\d.]+\)$/);
    expect(await debField(deb, "Suggests")).toBe("default-mta | mail-transport-agent");
  });

  test("backup-client depends on backup-common, tar, gzip and rsync and suggests the task tools", async () => {
    const deb = await debPath("backup-client");
    expect(await debField(deb, "Architecture")).toBe("all");
    expect(await debField(deb, "Depends")).toBe(
      `backup-common (>= ${changelogVersion()}), tar (>= 1.34), gzip (>= 1.12), rsync`,
    );
    expect(await debField(deb, "Recommends")).toBe("pigz, zstd");
    expect(await debField(deb, "Suggests")).toBe(
      "postgresql-client, mariadb-client, sqlite3, docker.io | docker-ce, docker-compose | docker-compose-plugin",
    );
  });

  test("backup-server depends on backup-common and restic", async () => {
    const deb = await debPath("backup-server");
    expect(await debField(deb, "Architecture")).toBe("all");
    expect(await debField(deb, "Depends")).toBe(
      `backup-common (>= ${changelogVersion()}), restic (>= 0.14.0)`,
    );
  });

  test("the packages carry package.json's version", async () => {
    const packageJson = JSON.parse(readFileSync(path.join(projectDir, "package.json"), "utf8"));
    expect(changelogVersion()).toBe(packageJson.version);
    for (const packageName of Object.keys(expectedListings))
      expect(await debField(await debPath(packageName), "Version")).toBe(packageJson.version);
  });

  test("debian/copyright carries the project's LICENSE word for word", () => {
    const copyright = readFileSync(path.join(projectDir, "debian/copyright"), "utf8");
    const paragraph = copyright.split("\n\nLicense: AGPL-3.0-or-later\n")[1]?.split("\n\n")[0] ?? "";
    const text = paragraph
      .split("\n")
      .map((line) => (line === " ." ? "" : line.slice(1)))
      .join("\n");
    const license = readFileSync(path.join(projectDir, "LICENSE"), "utf8");
    const normalise = (value: string) =>
      value
        .split("\n")
        .map((line) => line.trimEnd())
        .join("\n")
        .trim();
    expect(normalise(text)).toBe(normalise(license));
  });
});

describe("the packaged binary", () => {
  test("is whole: it runs the backupctl program, not a bare Bun", async () => {
    const extracted = mkdtempSync("/var/tmp/backupctl-deb-");
    try {
      await runOk(["dpkg-deb", "--extract", await debPath("backup-common"), extracted]);
      const version = await runOk([path.join(extracted, "usr/bin/backupctl"), "--version"]);
      expect(version).toMatch(
        new RegExp(`^backupctl ${changelogVersion().replaceAll(".", "\\.")} \\(commit `),
      );
    } finally {
      rmSync(extracted, { recursive: true, force: true });
    }
  }, 120_000);

  test("stripped, it would lose its program (why debian/rules skips dh_strip)", async () => {
    const extracted = mkdtempSync("/var/tmp/backupctl-deb-");
    try {
      await runOk(["dpkg-deb", "--extract", await debPath("backup-common"), extracted]);
      const stripped = path.join(extracted, "stripped");
      copyFileSync(path.join(extracted, "usr/bin/backupctl"), stripped);
      await runOk(["strip", stripped]);
      const result = await run([stripped, "--version"]);
      expect(`${result.stdout}${result.stderr}`).not.toContain("backupctl");
    } finally {
      rmSync(extracted, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("maintainer scripts", () => {
  /** The maintainer scripts of a package, by name. */
  async function maintainerScripts(packageName: string): Promise<Record<string, string>> {
    const control = mkdtempSync("/var/tmp/backupctl-control-");
    try {
      await runOk(["dpkg-deb", "--control", await debPath(packageName), control]);
      const scripts: Record<string, string> = {};
      for (const name of ["preinst", "postinst", "prerm", "postrm"]) {
        try {
          scripts[name] = readFileSync(path.join(control, name), "utf8");
        } catch {
          // absent: nothing to run at that point
        }
      }
      return scripts;
    } finally {
      rmSync(control, { recursive: true, force: true });
    }
  }

  test("backup-common has only a postrm, which purges /var/lib/backupctl", async () => {
    const scripts = await maintainerScripts("backup-common");
    expect(Object.keys(scripts)).toEqual(["postrm"]);
    expect(scripts.postrm).toContain('if [ "$1" = purge ]; then\n\trm -rf /var/lib/backupctl\nfi');
  });

  for (const [packageName, timers, services] of [
    ["backup-client", ["local-backup.timer"], ["local-backup.service"]],
    ["backup-server", ["backup-server.timer", "restic-maintenance.timer"], ["backup-server.service"]],
  ] as const) {
    test(`${packageName}: timers are enabled only if they were before, services never touched`, async () => {
      const scripts = await maintainerScripts(packageName);
      expect(Object.keys(scripts).sort()).toEqual(["postinst", "postrm", "prerm"]);
      const all = Object.values(scripts).join("\n");
      // a oneshot backup service started, restarted or stopped by dpkg would run or kill a backup
      for (const service of services) expect(all).not.toContain(service);
      expect(all).not.toContain("restic-maintenance.service");
      for (const timer of timers) {
        // debhelper's "dont-enable" snippet: enable only what the admin had enabled before
        expect(scripts.postinst).toContain(`deb-systemd-helper --quiet was-enabled '${timer}'`);
        expect(scripts.postinst).not.toMatch(new RegExp(`\\n\\t\\tdeb-systemd-helper enable '${timer}'`));
      }
    });
  }
});
