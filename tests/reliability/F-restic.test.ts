// Catalogue group F, restic repositories and maintain: damaged repositories must fail `backupctl
// maintain` by name (a flipped data byte only with read_data_subset), restic's exit codes must map
// to clear failures in `server pull` (exit 3 and unknown codes are never success), a missing
// repository is initialised only when configured, and a restic killed mid-backup leaves nothing that
// the next maintain does not clean up. Snapshots are made by real pulls of small archives.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  cpSync,
  existsSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { runBinary } from "../e2e/binary.ts";
import {
  makeTempDir,
  removeTempDir,
  type SmtpHandle,
  type SshdHandle,
  startSmtp,
  startSshd,
} from "../harness/index.ts";
import { writeExecutable } from "./support/fakebin.ts";
import { signalTree, startBinary, waitFor } from "./support/processes.ts";
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

const results = openResults("F-restic");

let root: string;
let sshd: SshdHandle;
let smtp: SmtpHandle;
let server: ServerFixture;
let minutesAgo = 600;

/** A host served from its own subdir of the sshd. */
function hostSpec(hostname: string, extra: Record<string, unknown> = {}): HostSpec {
  return {
    hostname,
    port: sshd.port,
    sshUser: sshd.user,
    keyFile: sshd.privateKeyPath,
    remoteDir: join(sshd.remoteRoot, hostname),
    extra: { after_ingest: "delete", ...extra },
  };
}

/** Serves a new archive (newer than the last) of the host with some incompressible data. */
function serveArchive(host: string, dataBytes = 256 * 1024): void {
  const bytes = buildTarGz([manifestMember(host), { name: "./data.bin", data: randomBytes(dataBytes) }]);
  const name = `${host}-${archiveTimestamp(new Date(Date.now() - minutesAgo-- * 60_000))}.tar.gz`;
  placeArchive(join(sshd.root, host), name, bytes, { owner: { uid: sshd.uid, gid: sshd.gid } });
}

/** Trusts the sshd for these names. */
function trust(hosts: string[]): void {
  appendKnownHosts(server.knownHostsFile, [
    `${hosts.map((host) => `[${host}]:${sshd.port}`).join(",")} ${sshd.hostPublicKey}`,
  ]);
}

/** Mail settings for the capture. */
function mailGlobal(): Record<string, unknown> {
  return {
    admin_email: "admin@example.org",
    mail: { transport: "smtp", smtp: { host: "127.0.0.1", port: smtp.port, starttls: "disabled" } },
  };
}

/** Flips one byte at offset in a file. */
function flipByte(path: string, offset: number): void {
  const fd = openSync(path, "r+");
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, offset);
    byte[0] = (byte[0] ?? 0) ^ 0xff;
    writeSync(fd, byte, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

/** The largest pack file of a repository (the one holding the file data). */
function largestPack(repository: string): string {
  const packs = readdirSync(join(repository, "data")).flatMap((prefix) =>
    readdirSync(join(repository, "data", prefix)).map((name) => join(repository, "data", prefix, name)),
  );
  return packs.sort((a, b) => statSync(b).size - statSync(a).size)[0] as string;
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-F-");
  [sshd, smtp, server] = await Promise.all([startSshd(), startSmtp(), createServerFixture(root)]);
}, 120_000);

afterAll(async () => {
  await Promise.all([sshd?.stop(), smtp?.stop()]);
  if (root) await removeTempDir(root);
});

describe("restic repositories and maintain", () => {
  results.caseTest(
    37,
    "maintain fails each damaged repository and mails its host and repository: a deleted pack, a deleted index; a flipped data byte is caught only with read_data_subset; a garbage lock file is left in place",
    async () => {
      const source = "f37-source";
      trust([source]);
      await server.createRepository(source);
      server.writeConfig([hostSpec(source)]);
      for (let index = 0; index < 2; index++) {
        serveArchive(source);
        expect((await runBinary(["server", "pull", "--config-dir", server.configDir])).exitCode).toBe(0);
      }
      const sourceRepository = join(server.repositoryRoot, source);
      const variants: {
        host: string;
        damage: (repository: string) => void;
        expected: "ok" | "failed";
        maintenance?: Record<string, unknown>;
      }[] = [
        { host: "f37-intact", damage: () => undefined, expected: "ok" },
        {
          host: "f37-pack-deleted",
          damage: (repository) => unlinkSync(largestPack(repository)),
          expected: "failed",
        },
        {
          host: "f37-index-deleted",
          damage: (repository) => rmSync(join(repository, "index"), { recursive: true }),
          expected: "failed",
        },
        {
          host: "f37-lock-garbage",
          damage: (repository) => writeFileSync(join(repository, "locks", "0".repeat(64)), randomBytes(100)),
          // restic 0.14 skips a lock file it cannot read (0.16 and later refuse to run): not a failure here
          expected: "ok",
        },
        {
          host: "f37-byte-flipped",
          damage: (repository) => flipByte(largestPack(repository), 100),
          expected: "ok",
        },
        {
          host: "f37-byte-flipped-read-data",
          damage: (repository) => flipByte(largestPack(repository), 100),
          expected: "failed",
          maintenance: { read_data_subset: "1/1" },
        },
      ];
      for (const variant of variants) {
        const repository = join(server.repositoryRoot, variant.host);
        cpSync(sourceRepository, repository, { recursive: true });
        variant.damage(repository);
      }
      server.writeConfig(
        variants.map((variant) =>
          hostSpec(variant.host, {
            repository: join(server.repositoryRoot, variant.host),
            ...(variant.maintenance ? { maintenance: variant.maintenance } : {}),
          }),
        ),
        { global: mailGlobal(), restic: { maintenance: { keep_last: 5 } } },
      );
      const mailsBefore = smtp.messages.length;
      const result = await runBinary(["maintain", "--config-dir", server.configDir]);
      const statusOf = (host: string) => new RegExp(`^${host}\\s+(\\S+)`, "m").exec(result.stdout)?.[1];
      const outcomes = variants.map((variant) => ({
        host: variant.host,
        expected: variant.expected,
        status: statusOf(variant.host),
      }));
      const caught = outcomes.filter(
        (outcome) => outcome.expected === "failed" && outcome.status === "failed",
      );
      results.figure(
        "restic.damage-caught-by-maintain",
        `${caught.length}/${outcomes.filter((outcome) => outcome.expected === "failed").length}`,
        outcomes.map((outcome) => `${outcome.host}: ${outcome.status}`).join("; "),
      );
      results.figure(
        "restic.flipped-byte-missed-without-read-data",
        outcomes.find((outcome) => outcome.host === "f37-byte-flipped")?.status === "ok"
          ? "missed by the default check, as restic documents"
          : "caught",
      );
      expect(outcomes.filter((outcome) => outcome.status !== outcome.expected)).toEqual([]);
      expect(result.exitCode).toBe(3);
      const mails = await smtp.waitForMessages(mailsBefore + 1, 10_000);
      const text = mails
        .slice(mailsBefore)
        .map((mail) => `${mail.subject}\n${mail.text}`)
        .join("\n");
      for (const variant of variants.filter((entry) => entry.expected === "failed")) {
        expect(text).toContain(variant.host);
        expect(text).toContain(join(server.repositoryRoot, variant.host));
      }
      // a lock restic cannot read is never removed by maintain
      expect(existsSync(join(server.repositoryRoot, "f37-lock-garbage", "locks", "0".repeat(64)))).toBe(true);
    },
  );

  results.caseTest(
    39,
    "restic's exit codes 10, 11, 12, 130 and an unknown 42 fail the host with a message naming the cause; exit 3 stores a snapshot but the host is partial, never ok",
    async () => {
      const codes = [3, 10, 11, 12, 130, 42];
      const hosts = codes.map((code) => `f39-exit-${code}`);
      // the fake restic: the real one, except that `backup` exits with the code in the host name (3: after a real backup)
      const fake = writeExecutable(
        join(root, "bin"),
        "restic-exit-codes",
        `host=""\nfor argument in "$@"; do case "$argument" in --host=*) host="\${argument#--host=}";; esac; done\nprev=""\nfor argument in "$@"; do if [ "$prev" = "--host" ]; then host="$argument"; fi; prev="$argument"; done\ncode="\${host##*-}"\nis_backup=0\nfor argument in "$@"; do [ "$argument" = backup ] && is_backup=1; done\nif [ "$is_backup" = 1 ]; then\n  if [ "$code" = 3 ]; then restic "$@"; exit 3; fi\n  case "$code" in 10) echo "Fatal: unable to open config file: stat /repo/config: no such file or directory" >&2;; 11) echo "Fatal: unable to create lock in backend: repository is already locked by PID 1 on other" >&2;; 12) echo "Fatal: wrong password or no key found" >&2;; *) echo "restic failed in some new way" >&2;; esac\n  exit "$code"\nfi\nexec restic "$@"\n`,
      );
      trust(hosts);
      await Promise.all(hosts.map((host) => server.createRepository(host)));
      for (const host of hosts) serveArchive(host, 1024);
      server.writeConfig(
        hosts.map((host) => hostSpec(host)),
        { restic: { restic_cmd: [fake] } },
      );
      const result = await runBinary(["server", "pull", "--config-dir", server.configDir]);
      const attempt = (code: number) => server.hostState(`f39-exit-${code}`)?.last_attempt;
      expect(attempt(3)?.status).toBe("partial");
      expect(server.snapshots("f39-exit-3")).toHaveLength(1);
      const expectedMessages: Record<number, RegExp> = {
        10: /does not exist|missing|no such file/i,
        11: /locked/i,
        12: /password/i,
        130: /interrupted/i,
        42: /exit code 42|failed/i,
      };
      const mismatched = Object.entries(expectedMessages).filter(([code, pattern]) => {
        const outcome = attempt(Number(code));
        return outcome?.status !== "failed" || !pattern.test(outcome.error ?? "");
      });
      results.figure(
        "restic.exit-codes-mapped",
        `${codes.length - mismatched.length}/${codes.length}`,
        codes
          .map((code) => `${code}: ${attempt(code)?.status} (${(attempt(code)?.error ?? "").slice(0, 80)})`)
          .join("; "),
      );
      expect(mismatched.map(([code]) => `${code}: ${attempt(Number(code))?.error}`)).toEqual([]);
      expect(result.exitCode).toBe(3);
    },
  );

  results.caseTest(
    39,
    "a missing repository is a clear configuration error unless init_missing_repos is true, and then it is initialised",
    async () => {
      const host = "f39-missing";
      trust([host]);
      serveArchive(host, 1024);
      server.writeConfig([hostSpec(host)], { restic: { init_missing_repos: false } });
      const refused = await runBinary(["server", "pull", "--config-dir", server.configDir]);
      expect(refused.exitCode).toBe(1);
      expect(server.hostState(host)?.last_attempt?.error).toMatch(/does not exist/);
      expect(refused.stderr).toMatch(/restic init|init_missing_repos/);
      expect(existsSync(join(server.repositoryRoot, host))).toBe(false);
      // the download had started while restic was asked: it is stopped and nothing of it is left
      expect(readdirSync(join(server.tempBase, host))).toEqual([]);
      server.writeConfig([hostSpec(host)], { restic: { init_missing_repos: true } });
      const created = await runBinary(["server", "pull", "--config-dir", server.configDir]);
      expect(created.exitCode).toBe(0);
      expect(server.snapshots(host)).toHaveLength(1);
      results.figure(
        "restic.missing-repository-choice",
        "error by default; initialised with init_missing_repos: true",
      );
    },
  );

  results.caseTest(
    40,
    "a restic killed with SIGKILL during a pull's backup leaves a stale lock that the next maintain removes (plain unlock), and check is then clean",
    async () => {
      const host = "f40-killed";
      trust([host]);
      await server.createRepository(host);
      server.writeConfig([hostSpec(host)], { restic: { maintenance: { keep_last: 5 } } });
      serveArchive(host, 1024);
      expect((await runBinary(["server", "pull", "--config-dir", server.configDir])).exitCode).toBe(0);
      serveArchive(host, 48 * 1024 * 1024);
      const locks = join(server.repositoryRoot, host, "locks");
      const run = startBinary(["server", "pull", "--config-dir", server.configDir]);
      let hasExited = false;
      void run.exited.then(() => {
        hasExited = true;
      });
      await waitFor(() => hasExited || readdirSync(locks).length > 0, {
        timeoutMs: 60_000,
        description: "restic backup holding its lock",
      });
      if (hasExited) throw new Error(`the pull ended before its backup could be killed:\n${run.stderr()}`);
      const killed = signalTree(run.pid, "SIGKILL");
      await run.exited;
      const leftLocks = readdirSync(locks).length;
      // restic calls a lock stale once its pid is gone; this sandbox's init reaps orphans only every few
      // seconds, and a zombie still answers kill(pid, 0) (under systemd the unit's processes are reaped at once)
      await waitFor(() => killed.every((pid) => !existsSync(`/proc/${pid}`)), {
        timeoutMs: 30_000,
        description: "the killed processes to be reaped",
      });
      const maintained = await runBinary(["maintain", "--config-dir", server.configDir]);
      expect(maintained.exitCode).toBe(0);
      // lock files are named by their 64-hex id; a "<id>-tmp-<n>" is restic's own half-written upload
      expect(readdirSync(locks).filter((name) => /^[0-9a-f]{64}$/.test(name))).toEqual([]);
      expect(server.restic(host, ["check"])).toContain("no errors were found");
      results.figure(
        "restic.check-clean-after-interrupted-backup",
        "1/1",
        `${leftLocks} stale lock(s) left by the kill, removed by maintain's unlock`,
      );
    },
  );
});
