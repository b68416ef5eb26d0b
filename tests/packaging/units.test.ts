// The six systemd units as written: oneshot jobs with a start timeout, low priority and a sandbox,
// started by timers that cannot start a run when enabled. That the sandbox still lets each job work
// is shown by boot.test.ts; `systemd-analyze verify` runs in install.test.ts, on the installed units.

import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { debPath, packagesDir, projectDir, runOk } from "./support.ts";

// outside scripts/check the packages are built first, which takes a minute or two
beforeAll(() => packagesDir(), 900_000);

/** A unit file's settings: section → key → every value assigned, in order. */
type Unit = Record<string, Record<string, string[]>>;

/** Parses a unit file (no line continuations are used in ours). */
function readUnit(name: string): Unit {
  const unit: Unit = {};
  let section = "";
  for (const rawLine of readFileSync(path.join(projectDir, "systemd", name), "utf8").split("\n")) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1]) {
      section = header[1];
      unit[section] ??= {};
      continue;
    }
    const separator = line.indexOf("=");
    const key = line.slice(0, separator);
    const values = (unit[section] ??= {});
    (values[key] ??= []).push(line.slice(separator + 1));
  }
  return unit;
}

const jobs = [
  { service: "local-backup.service", command: "client run" },
  { service: "backup-server.service", command: "server pull" },
  { service: "restic-maintenance.service", command: "maintain" },
] as const;

describe("services", () => {
  for (const { service, command } of jobs) {
    test(`${service} runs "backupctl ${command}" once, bounded, at low priority`, () => {
      const settings = readUnit(service).Service ?? {};
      expect(settings.Type).toEqual(["oneshot"]);
      expect(settings.ExecStart).toEqual([`/usr/bin/backupctl ${command}`]);
      expect(settings.TimeoutStartSec?.[0]).toMatch(/^\d+(h|min)$/);
      expect(settings.Nice).toEqual(["10"]);
      expect(settings.IOSchedulingClass).toEqual(["idle"]);
    });

    test(`${service} is sandboxed`, () => {
      const settings = readUnit(service).Service ?? {};
      for (const [key, value] of Object.entries({
        ProtectSystem: "strict",
        PrivateTmp: "yes",
        NoNewPrivileges: "yes",
        ProtectHome: "read-only",
        ProtectKernelTunables: "yes",
        ProtectKernelModules: "yes",
        ProtectControlGroups: "yes",
        RestrictSUIDSGID: "yes",
        LockPersonality: "yes",
        StateDirectory: "backupctl",
        StateDirectoryMode: "0700",
      }))
        expect({ [key]: settings[key] }).toEqual({ [key]: [value] });
      // Bun's JIT compiler needs writable and executable memory: this would kill the job at start
      expect(settings.MemoryDenyWriteExecute).toBeUndefined();
    });

    test(`${service} has no [Install] section: only its timer starts it`, () => {
      expect(readUnit(service).Install).toBeUndefined();
    });
  }

  test("local-backup.service keeps its archives in the real /var/tmp/backups, not the private /var/tmp", () => {
    const settings = readUnit("local-backup.service").Service ?? {};
    expect(settings.BindPaths).toEqual(["/var/tmp/backups"]);
    // the bind needs the directory to exist; "+" creates it outside the sandbox
    expect(settings.ExecStartPre).toEqual(["+/bin/mkdir -p -m 0750 /var/tmp/backups"]);
  });

  for (const service of ["backup-server.service", "restic-maintenance.service"]) {
    test(`${service} may write the repositories under /srv/restic and nothing of the client's`, () => {
      const settings = readUnit(service).Service ?? {};
      expect(settings.ReadWritePaths?.join(" ").split(" ")).toContain("-/srv/restic");
      expect(settings.BindPaths).toBeUndefined();
      expect(settings.PrivateDevices).toEqual(["yes"]);
      expect(settings.SystemCallFilter).toEqual(["@system-service"]);
      expect(settings.CapabilityBoundingSet?.[0]?.split(" ")).not.toContain("CAP_SYS_ADMIN");
    });
  }

  test("each job's command exists in the packaged binary", async () => {
    const extracted = mkdtempSync("/var/tmp/backupctl-deb-");
    try {
      await runOk(["dpkg-deb", "--extract", await debPath("backup-common"), extracted]);
      for (const { command } of jobs)
        await runOk([path.join(extracted, "usr/bin/backupctl"), ...command.split(" "), "--help"]);
    } finally {
      rmSync(extracted, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("timers", () => {
  for (const { service } of jobs) {
    const timer = service.replace(/\.service$/, ".timer");
    test(`${timer} fires on a calendar with a random delay and catches up after downtime`, () => {
      const settings = readUnit(timer).Timer ?? {};
      expect(settings.OnCalendar?.length).toBe(1);
      expect(settings.RandomizedDelaySec?.[0]).toMatch(/^\d+(h|min)$/);
      expect(settings.Persistent).toEqual(["true"]);
      // OnActiveSec/OnBootSec/OnStartupSec would start a run soon after enabling or booting
      for (const key of ["OnActiveSec", "OnBootSec", "OnStartupSec", "OnUnitActiveSec"])
        expect(settings[key]).toBeUndefined();
      // the timer starts the service of its own name
      expect(settings.Unit).toBeUndefined();
    });

    test(`${timer} does not pull in its service: enabling it starts no run`, () => {
      const unit = readUnit(timer);
      for (const key of ["Requires", "Wants", "BindsTo", "Requisite", "Upholds"])
        expect(unit.Unit?.[key]).toBeUndefined();
      expect(unit.Install).toEqual({ WantedBy: ["timers.target"] });
    });
  }
});
