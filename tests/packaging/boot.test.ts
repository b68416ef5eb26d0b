// The boot test: a Debian 12 root booted with systemd-nspawn (its own systemd as PID 1, its own
// network namespace with only loopback), where tests/packaging/boot-scenario installs the .debs and
// runs the three jobs through their real units. It shows what the unit files alone cannot: that
// installing and enabling start nothing, and that each sandbox still lets its job do its work (and
// stops a task writing outside it).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { debPath, freshRoot, packagesDir, projectDir, type TestRoot } from "./support.ts";

const bootTimeoutMs = 600_000;
let root: TestRoot;
let results: Record<string, string> = {};
let consoleOutput = "";

/** The scenario's log of one step, for failure messages. */
function scenarioLog(name: string): string {
  const file = path.join(root.path, "srv/boot-test", `${name}.log`);
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").slice(-40).join("\n") : "(no log)";
}

/** Expects a result line's value, showing the step's log when it differs. */
function expectResult(key: string, expected: string | RegExp, logName?: string): void {
  const actual = results[key];
  const matches = typeof expected === "string" ? actual === expected : expected.test(actual ?? "");
  if (!matches) {
    const log = logName ? `\n--- ${logName}.log ---\n${scenarioLog(logName)}` : "";
    throw new Error(`${key}: expected ${String(expected)}, got ${JSON.stringify(actual)}${log}`);
  }
}

/** The PIDs of a process's children. */
function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(" ").filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** Boots the root and waits until the scenario has powered it off. Throws on a timeout. */
async function bootUntilPoweroff(): Promise<void> {
  const child = Bun.spawn(
    [
      "systemd-nspawn",
      // no host systemd or machined to register with: run in the test's own cgroup
      "--register=no",
      "--keep-unit",
      // the journal stays inside the root, never linked into the host's /var/log/journal
      "--link-journal=no",
      "--quiet",
      "--private-network",
      "--hostname=client01",
      `--directory=${root.path}`,
      "--boot",
      "--console=pipe",
    ],
    {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      // no lock file in /run/systemd/nspawn/locks for a directory that is deleted afterwards
      env: { ...process.env, SYSTEMD_NSPAWN_LOCK: "0" },
    },
  );
  let hasTimedOut = false;
  let killTimer: Timer | undefined;
  // SIGTERM makes nspawn shut the container down in order; if that hangs too, its init (nspawn's
  // child, in its own PID namespace) is killed with nspawn, or it would outlive the test
  const timer = setTimeout(() => {
    hasTimedOut = true;
    child.kill("SIGTERM");
    killTimer = setTimeout(() => {
      for (const pid of childPids(child.pid)) process.kill(pid, "SIGKILL");
      child.kill("SIGKILL");
    }, 30_000);
  }, bootTimeoutMs);
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  clearTimeout(timer);
  clearTimeout(killTimer);
  consoleOutput = `${stdout}\n${stderr}`;
  if (hasTimedOut) throw new Error(`The booted root did not power off within ${bootTimeoutMs / 1000} s`);
  if (exitCode !== 0) throw new Error(`systemd-nspawn exited ${exitCode}:\n${consoleOutput.slice(-4000)}`);
}

beforeAll(async () => {
  await packagesDir();
  root = await freshRoot();
  const work = path.join(root.path, "srv/boot-test");
  mkdirSync(path.join(work, "debs"), { recursive: true });
  for (const name of ["backup-common", "backup-client", "backup-server"]) {
    const deb = await debPath(name);
    copyFileSync(deb, path.join(work, "debs", path.basename(deb)));
  }
  copyFileSync(path.join(projectDir, "tests/packaging/boot-scenario"), path.join(work, "scenario"));
  // systemd sets the hostname from /etc/hostname at boot; backupctl names archives after it
  writeFileSync(path.join(root.path, "etc/hostname"), "client01\n");
  writeFileSync(
    path.join(root.path, "etc/systemd/system/boot-test.service"),
    [
      "[Unit]",
      "Description=backupctl boot test scenario",
      "After=ssh.service network-online.target",
      // the container ends with the scenario, whatever its outcome
      "SuccessAction=poweroff",
      "FailureAction=poweroff",
      "[Service]",
      "Type=oneshot",
      "ExecStart=/srv/boot-test/scenario",
      "StandardOutput=append:/srv/boot-test/scenario.log",
      "StandardError=inherit",
      "TimeoutStartSec=8min",
      "[Install]",
      "WantedBy=multi-user.target",
      "",
    ].join("\n"),
  );
  symlinkSync(
    "/etc/systemd/system/boot-test.service",
    path.join(root.path, "etc/systemd/system/multi-user.target.wants/boot-test.service"),
  );
  await bootUntilPoweroff();
  const resultsFile = path.join(work, "results");
  if (!existsSync(resultsFile)) throw new Error(`The scenario wrote no results; console:\n${consoleOutput}`);
  for (const line of readFileSync(resultsFile, "utf8").split("\n")) {
    const separator = line.indexOf("=");
    if (separator > 0) results[line.slice(0, separator)] = line.slice(separator + 1);
  }
}, 900_000);

afterAll(() => {
  if (!root) return;
  root.remove();
  // nspawn leaves its propagation directory behind when /run is not a tmpfs (as on these machines)
  rmSync(path.join("/run/systemd/nspawn/propagate", path.basename(root.path)), {
    recursive: true,
    force: true,
  });
}, 120_000);

describe("booted Debian 12 root with the packages", () => {
  test("the scenario ran to its end", () => {
    expectResult("done", "yes", "scenario");
  });

  test("installing under a running systemd enables and starts no timer and runs no job", () => {
    expectResult("install", "0", "apt");
    for (const timer of ["local-backup.timer", "backup-server.timer", "restic-maintenance.timer"])
      expectResult(`installed.${timer}`, "disabled inactive");
    // three empty invocation IDs: no service ever started
    expectResult("installed.invocations", "   ");
  });

  test("enabling the timers with --now starts no job", () => {
    expectResult("enabled.invocations", "   ");
    expectResult("enabled.archives", "");
  });

  test("local-backup.service writes the archive into the real /var/tmp/backups, from /home and a socket in /run too", () => {
    expectResult("client.result", "success", "client");
    expectResult("client.archives", "1", "client");
    expectResult("client.archive-mode", "640 backup:backup", "client");
    // ExecStartPre's mkdir left the admin's mode and group alone
    expectResult("client.base-mode", "770 root:backup");
    expectResult(
      "client.members",
      "./command/socket/commands/systemd-version ./files/data/data/home/alice/notes.txt ./files/data/data/srv/data/file.txt ./sqlite/app/databases/app.db ",
      "client",
    );
  });

  test("backup-server.service pulls over SFTP into /srv/restic, unpacking in its private /var/tmp", () => {
    expectResult("sshd", "active");
    expectResult("trust", "0", "trust");
    expectResult("server.result", "success", "server");
    expectResult("server.snapshots", "1", "server");
    expectResult("server.done", "1", "server");
    expectResult("server.private-work", "private", "server");
  });

  test("restic-maintenance.service maintains the repository", () => {
    expectResult("maintain.result", "success", "maintain");
  });

  test("local-backup.service's sandbox fails a task that writes outside its paths", () => {
    expectResult("probe.file", "absent", "probe");
    expectResult("probe.result", "exit-code", "probe");
    // 3: partial, the other services were backed up
    expectResult("probe.status", "3", "probe");
  });

  test("an upgrade keeps the enabled timers running and starts no job", () => {
    expectResult("reinstall", "0", "reinstall");
    expectResult("reinstall.invocations-unchanged", "yes");
    for (const timer of ["local-backup.timer", "backup-server.timer", "restic-maintenance.timer"])
      expectResult(`reinstalled.${timer}`, "enabled active");
  });

  test("the scenario recorded nothing these tests do not check", () => {
    const checked =
      /^(done|install|installed\.|enabled\.|client\.|sshd|trust|server\.|maintain\.|probe\.|reinstall)/;
    expect(Object.keys(results).filter((key) => !checked.test(key))).toEqual([]);
  });
});
