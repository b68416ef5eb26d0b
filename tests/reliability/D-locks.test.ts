// Catalogue group D, locks and concurrency, through the compiled binary: two client runs at once, the
// shared archive lock left by a dead, reused or unknown owner, a restic repository held exclusively
// by another restic, and two pulls at once or a pull killed right after its snapshot was written.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runBinary } from "../e2e/binary.ts";
import { makeTempDir, removeTempDir, type SshdHandle, startSshd } from "../harness/index.ts";
import { createClientFixture } from "./support/client-fixture.ts";
import { writeExecutable } from "./support/fakebin.ts";
import { startBinary, waitFor } from "./support/processes.ts";
import { openResults } from "./support/results.ts";
import {
  appendKnownHosts,
  archiveTimestamp,
  createServerFixture,
  type HostSpec,
  placeArchive,
  type ServerFixture,
} from "./support/server-fixture.ts";
import { buildTarGz, manifestMember } from "./support/tarball.ts";

const results = openResults("D-locks");

let root: string;
let sshd: SshdHandle;
let server: ServerFixture;
let minutesAgo = 300;

/** A host served from its own subdir of the sshd. */
function hostSpec(hostname: string, extra: Record<string, unknown> = {}): HostSpec {
  return {
    hostname,
    port: sshd.port,
    sshUser: sshd.user,
    keyFile: sshd.privateKeyPath,
    remoteDir: join(sshd.remoteRoot, hostname),
    extra: { after_ingest: "move", ...extra },
  };
}

/** Serves a new archive of a host; returns its timestamp. */
function serveArchive(host: string, dataBytes = 1024): string {
  const stamp = archiveTimestamp(new Date(Date.now() - minutesAgo-- * 60_000));
  const bytes = buildTarGz([manifestMember(host), { name: "./data.bin", data: randomBytes(dataBytes) }]);
  placeArchive(join(sshd.root, host), `${host}-${stamp}.tar.gz`, bytes, {
    owner: { uid: sshd.uid, gid: sshd.gid },
  });
  return stamp;
}

/** Writes an archive lock dir with an owner record, as a client run would. */
function writeArchiveLock(baseDir: string, owner: Record<string, unknown> | undefined): string {
  const lock = join(baseDir, ".backup_archive_in_progress.lock");
  mkdirSync(lock, { recursive: true });
  if (owner) writeFileSync(join(lock, "owner.json"), `${JSON.stringify(owner)}\n`);
  return lock;
}

/** Returns a process's start time in clock ticks (field 22 of /proc/<pid>/stat). */
function startTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-D-");
  [sshd, server] = await Promise.all([startSshd(), createServerFixture(root)]);
}, 120_000);

afterAll(async () => {
  await sshd?.stop();
  if (root) await removeTempDir(root);
});

describe("locks and concurrency", () => {
  results.caseTest(
    29,
    "a second and a third client run while the first holds the instance lock both exit 75 and leave the first run's lock in place; the first completes",
    async () => {
      const client = createClientFixture(root, { hostname: "d29" });
      client.writeService("slow", "sleeper", { command: { argv: ["sleep", "3"], output: "sleep.out" } });
      const first = startBinary(["client", "run", "--config-dir", client.configDir]);
      await first.waitForStderr("Backing up service");
      const second = await runBinary(["client", "run", "--config-dir", client.configDir]);
      const third = await runBinary(["client", "run", "--config-dir", client.configDir]);
      expect([second.exitCode, third.exitCode]).toEqual([75, 75]);
      expect(second.stderr).toContain("Another");
      expect(await first.exited).toBe(0);
      expect(client.archives()).toHaveLength(1);
    },
  );

  results.caseTest(
    30,
    "an archive lock whose owner is dead, whose pid now belongs to an unrelated process, or that was made in another boot is replaced with a warning; a lock whose owner is alive is respected",
    async () => {
      const client = createClientFixture(root, { hostname: "d30" });
      const data = join(root, "d30-data");
      mkdirSync(data);
      writeFileSync(join(data, "f"), "f\n");
      client.writeService("files", "data", { files: { paths: [data] } });
      mkdirSync(client.baseDir, { recursive: true });
      const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
      const sleeper = Bun.spawn(["sleep", "60"]);
      try {
        const owners: Record<string, Record<string, unknown>> = {
          "dead pid": {
            pid: 999_999,
            bootId,
            processStartTicks: 1,
            startedAt: "2026-01-01T00:00:00Z",
            hostname: "d30",
          },
          "pid reused by sleep": {
            pid: sleeper.pid,
            bootId,
            processStartTicks: startTicks(sleeper.pid) - 1,
            startedAt: "2026-01-01T00:00:00Z",
            hostname: "d30",
          },
          "other boot": {
            pid: sleeper.pid,
            bootId: "00000000-0000-0000-0000-000000000000",
            processStartTicks: startTicks(sleeper.pid),
            startedAt: "2026-01-01T00:00:00Z",
            hostname: "d30",
          },
        };
        const replaced: string[] = [];
        for (const [label, owner] of Object.entries(owners)) {
          writeArchiveLock(client.baseDir, owner);
          await Bun.sleep(1100);
          const result = await runBinary(["client", "run", "--config-dir", client.configDir]);
          if (result.exitCode === 0 && result.stderr.includes("Replacing a stale archive lock"))
            replaced.push(label);
          expect(existsSync(join(client.baseDir, ".backup_archive_in_progress.lock"))).toBe(false);
        }
        expect(replaced).toEqual(Object.keys(owners));

        // the owner is alive: same pid, start time and boot
        const live = writeArchiveLock(client.baseDir, {
          pid: sleeper.pid,
          bootId,
          processStartTicks: startTicks(sleeper.pid),
          startedAt: new Date().toISOString(),
          hostname: "d30",
        });
        const archivesBefore = client.archives().length;
        const respected = await runBinary(["client", "run", "--config-dir", client.configDir]);
        expect(respected.exitCode).toBe(75);
        expect(respected.stderr).toContain(`pid ${sleeper.pid}`);
        expect(existsSync(join(live, "owner.json"))).toBe(true);
        expect(client.archives()).toHaveLength(archivesBefore);
        results.figure(
          "locks.stale-archive-locks-replaced",
          `${replaced.length}/3`,
          "dead pid, pid reused, other boot; a live owner was respected",
        );
      } finally {
        sleeper.kill();
      }
    },
  );

  results.caseTest(
    30,
    "an archive lock without an owner record (made by another tool or the original script) is respected while young and replaced with a warning once older than stale_lock_after",
    async () => {
      const client = createClientFixture(root, { hostname: "d30b", config: { stale_lock_after: "1h" } });
      const data = join(root, "d30b-data");
      mkdirSync(data);
      writeFileSync(join(data, "f"), "f\n");
      client.writeService("files", "data", { files: { paths: [data] } });
      mkdirSync(client.baseDir, { recursive: true });
      const lock = writeArchiveLock(client.baseDir, undefined);
      const young = await runBinary(["client", "run", "--config-dir", client.configDir]);
      expect(young.exitCode).toBe(75);
      expect(existsSync(lock)).toBe(true);
      const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
      utimesSync(lock, twoHoursAgo, twoHoursAgo);
      const old = await runBinary(["client", "run", "--config-dir", client.configDir]);
      expect(old.stderr).toMatch(/stale archive lock/i);
      expect(old.exitCode).toBe(0);
      expect(existsSync(lock)).toBe(false);
    },
  );

  results.caseTest(
    31,
    "a restic repository held exclusively by another restic (a prune, frozen) fails the pull's backup as locked; once the prune finishes the next pull stores the archive and check is clean",
    async () => {
      const host = "d31";
      appendKnownHosts(server.knownHostsFile, [`[${host}]:${sshd.port} ${sshd.hostPublicKey}`]);
      await server.createRepository(host);
      server.writeConfig([hostSpec(host)]);
      serveArchive(host);
      expect((await runBinary(["server", "pull", "--config-dir", server.configDir])).exitCode).toBe(0);
      serveArchive(host);
      const repository = join(server.repositoryRoot, host);
      const prune = Bun.spawn(["restic", "--repo", repository, "--no-cache", "prune"], {
        env: { ...process.env, RESTIC_PASSWORD_FILE: server.passwordFile },
        stdout: "ignore",
        stderr: "ignore",
      });
      try {
        await waitFor(() => readdirSync(join(repository, "locks")).length > 0, {
          timeoutMs: 20_000,
          description: "prune's exclusive lock",
        });
        process.kill(prune.pid, "SIGSTOP");
        const blocked = await runBinary(["server", "pull", "--config-dir", server.configDir]);
        expect(blocked.exitCode).toBe(1);
        expect(server.hostState(host)?.last_attempt?.error).toMatch(/locked/i);
        expect(server.snapshots(host)).toHaveLength(1);
      } finally {
        process.kill(prune.pid, "SIGCONT");
      }
      expect(await prune.exited).toBe(0);
      const retried = await runBinary(["server", "pull", "--config-dir", server.configDir]);
      expect(retried.exitCode).toBe(0);
      expect(server.snapshots(host)).toHaveLength(2);
      expect(server.restic(host, ["check"])).toContain("no errors were found");
    },
  );

  results.caseTest(
    32,
    "two pulls at once: the second exits 75 and exactly one snapshot is made; a pull killed right after restic wrote the snapshot leaves exactly one snapshot for that archive, also after the next pull",
    async () => {
      const host = "d32";
      appendKnownHosts(server.knownHostsFile, [`[${host}]:${sshd.port} ${sshd.hostPublicKey}`]);
      await server.createRepository(host);
      server.writeConfig([hostSpec(host)]);
      serveArchive(host, 8 * 1024 * 1024);
      const first = startBinary(["server", "pull", "--config-dir", server.configDir]);
      await first.waitForStderr("Pulling");
      const second = await runBinary(["server", "pull", "--config-dir", server.configDir]);
      expect(second.exitCode).toBe(75);
      expect(await first.exited).toBe(0);
      expect(server.snapshots(host)).toHaveLength(1);

      // restic succeeds, then the pull dies before any bookkeeping (the wrapper kills its parent)
      const stamp = serveArchive(host);
      const killer = writeExecutable(
        join(root, "bin"),
        "restic-then-kill-parent",
        `restic "$@"\nstatus=$?\nfor argument in "$@"; do if [ "$argument" = backup ]; then kill -KILL $PPID; fi; done\nexit $status\n`,
      );
      server.writeConfig([hostSpec(host)], { restic: { restic_cmd: [killer] } });
      const killed = await runBinary(["server", "pull", "--config-dir", server.configDir]);
      expect(killed.exitCode).toBe(137);
      server.writeConfig([hostSpec(host)]);
      const next = await runBinary(["server", "pull", "--config-dir", server.configDir]);
      expect(next.exitCode).toBe(0);
      expect(next.stderr).toContain("already stored");
      const tagged = server.snapshots(host).filter((snapshot) => snapshot.tags?.includes(stamp));
      expect(tagged).toHaveLength(1);
      expect(existsSync(join(server.tempBase, host, "data"))).toBe(false);
      results.figure(
        "locks.snapshots-per-archive-after-crash",
        tagged.length,
        "a pull SIGKILLed right after restic backup, then pulled again",
      );
    },
  );
});
