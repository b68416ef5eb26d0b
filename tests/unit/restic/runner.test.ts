// runner.ts against the real restic installed on this machine (0.14 on Debian 12), with throwaway
// local repositories (the harness's, read back with the harness's own restic calls as an independent
// check, or created here where creation is under test); only the parsers and the failure table are
// fed literal text.

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errorMessage } from "../../../mod/lib/errors.ts";
import { spawnStream } from "../../../mod/lib/exec.ts";
import { getLogLevel, type LogLevel, setLogLevel, setLogSink } from "../../../mod/lib/log.ts";
import {
  resticCheckArgs,
  resticForgetArgs,
  resticRestoreArgs,
  resticUnlockArgs,
} from "../../../mod/restic/args.ts";
import {
  classifyResticFailure,
  initRepository,
  listSnapshots,
  listSnapshotsIfRepository,
  parseBackupSummary,
  parseSnapshots,
  ResticError,
  type ResticFailureKind,
  type ResticRunOptions,
  runBackup,
  runRestic,
} from "../../../mod/restic/runner.ts";
import { type ResticHandle, startRestic } from "../../harness/restic.ts";

const slow = 60_000;

describe("runner.ts with real restic", () => {
  const root = mkdtempSync(join(tmpdir(), "backupctl-restic-"));
  const password = `CANARY-${randomUUID()}`;
  const passwordFile = join(root, "password");
  const wrongPasswordFile = join(root, "wrong-password");
  const source = join(root, "source");
  const logLines: string[] = [];
  const thrownMessages: string[] = [];
  let previousLevel: LogLevel;
  const harnessRepositories: ResticHandle[] = [];
  let repositoryNumber = 0;

  /** Returns run options for a repository the harness created (with its own random password). */
  async function harnessRepository(): Promise<ResticRunOptions & { handle: ResticHandle }> {
    const handle = await startRestic();
    harnessRepositories.push(handle);
    return {
      repository: handle.repository,
      passwordFile: handle.passwordFile,
      cacheDir: handle.env.RESTIC_CACHE_DIR,
      handle,
    };
  }

  /** Returns run options for a fresh, not yet created repository. */
  function freshRepository(): ResticRunOptions {
    repositoryNumber += 1;
    return {
      repository: join(root, `repository-${repositoryNumber}`),
      passwordFile,
      cacheDir: join(root, "cache"),
    };
  }

  /** Runs action and returns the ResticError it throws, recording its message for the secret check. */
  async function caught(action: () => Promise<unknown>): Promise<ResticError> {
    try {
      await action();
    } catch (error) {
      thrownMessages.push(errorMessage(error), String((error as Error).stack));
      if (error instanceof ResticError) return error;
      throw error;
    }
    throw new Error("expected a ResticError, but nothing was thrown");
  }

  beforeAll(() => {
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    writeFileSync(wrongPasswordFile, "not-the-password\n", { mode: 0o600 });
    mkdirSync(join(source, "etc"), { recursive: true });
    writeFileSync(join(source, "etc", "app.conf"), "listen = 8080\n");
    writeFileSync(join(source, "dump.sql"), "CREATE TABLE t (id int);\n".repeat(100));
    chmodSync(root, 0o700);
    previousLevel = getLogLevel();
  });

  beforeEach(() => {
    setLogLevel("debug");
    setLogSink({ write: (line) => logLines.push(line) }, { isJournal: false });
  });

  afterEach(() => {
    setLogSink(undefined);
    setLogLevel(previousLevel);
  });

  afterAll(async () => {
    rmSync(root, { recursive: true, force: true });
    for (const handle of harnessRepositories) await handle.stop();
  });

  test(
    "a missing repository is reported as missing, then created by initRepository",
    async () => {
      const options = freshRepository();
      logLines.length = 0;
      expect(await listSnapshotsIfRepository(options, { host: "web01" })).toBeUndefined();
      // an expected answer, not a warning
      expect(logLines.filter((line) => line.includes(" WARN "))).toEqual([]);
      const listing = await caught(() => listSnapshots(options));
      expect(listing.kind).toBe("missing");
      const error = await caught(() => runBackup(source, { ...options, host: "web01" }));
      expect(error.kind).toBe("missing");
      expect(error.message).toContain(`"${options.repository}"`);
      expect(error.hint).toContain("init_missing_repos");
      await initRepository(options);
      expect(await listSnapshotsIfRepository(options, { host: "web01" })).toEqual([]);
    },
    slow,
  );

  test(
    "a backup with host, tags and time is listed with exactly those fields and its summary parsed",
    async () => {
      const options = await harnessRepository();
      const archiveTime = new Date("2026-11-20T03:04:05Z");
      // restic reads --time in the local zone: the runner must pin UTC whatever the caller's TZ is
      const previousZone = process.env.TZ;
      process.env.TZ = "America/New_York";
      let outcome: Awaited<ReturnType<typeof runBackup>>;
      try {
        outcome = await runBackup(source, {
          ...options,
          host: "web01",
          tags: ["20261120_030405"],
          time: archiveTime,
        });
      } finally {
        if (previousZone === undefined) delete process.env.TZ;
        else process.env.TZ = previousZone;
      }
      expect(outcome.isPartial).toBe(false);
      expect(outcome.summary?.filesNew).toBe(2);
      expect(outcome.summary?.filesChanged).toBe(0);
      expect(outcome.summary?.dataAdded).toBeGreaterThan(0);
      expect(outcome.summary?.snapshotId).toMatch(/^[0-9a-f]{8,64}$/);

      const snapshots = await listSnapshots(options, { host: "web01" });
      expect(snapshots).toHaveLength(1);
      const [snapshot] = snapshots;
      expect(snapshot?.host).toBe("web01");
      expect(snapshot?.tags).toEqual(["backupctl", "20261120_030405"]);
      expect(snapshot?.time.toISOString()).toBe("2026-11-20T03:04:05.000Z");
      expect(snapshot?.paths).toEqual([source]);
      expect(snapshot?.id.startsWith(outcome.summary?.snapshotId ?? "?")).toBe(true);
      // the harness reads the repository with its own restic call: the same snapshot, the same fields
      const [seen] = await options.handle.snapshots();
      expect(seen?.id).toBe(snapshot?.id as string);
      expect(seen?.hostname).toBe("web01");
      expect(Date.parse(seen?.time ?? "")).toBe(archiveTime.getTime());

      expect(await listSnapshots(options, { host: "db01" })).toEqual([]);
      expect(await listSnapshots(options, { tags: ["backupctl", "20261120_030405"] })).toHaveLength(1);
      expect(await listSnapshots(options, { tags: ["backupctl", "20991231_235959"] })).toEqual([]);

      // an unchanged second run adds no files: --ignore-inode/--ignore-ctime keep the parent's metadata valid
      const second = await runBackup(source, { ...options, host: "web01", tags: ["20261121_030405"] });
      expect(second.summary?.filesNew).toBe(0);
      expect(second.summary?.filesUnmodified).toBe(2);
    },
    slow,
  );

  test(
    "the snapshot restores byte for byte with restore --target and an include path",
    async () => {
      const options = freshRepository();
      await initRepository(options);
      await runBackup(source, { ...options, host: "web01" });
      const target = join(root, "restored");
      await runRestic(
        resticRestoreArgs("latest", target, {
          host: "web01",
          include: [join(source, "etc")],
        }),
        options,
      );
      expect(await Bun.file(join(target, source, "etc", "app.conf")).text()).toBe("listen = 8080\n");
      expect(readdirSync(join(target, source))).toEqual(["etc"]);
    },
    slow,
  );

  test(
    "a wrong password is the password kind, and a missing password file says so",
    async () => {
      const options = freshRepository();
      await initRepository(options);
      const wrong = await caught(() =>
        listSnapshotsIfRepository({ ...options, passwordFile: wrongPasswordFile }),
      );
      expect(wrong.kind).toBe("password");
      expect(wrong.message).toContain("does not open it");
      const missingFile = await caught(() =>
        listSnapshots({ ...options, passwordFile: join(root, "no-such-file") }),
      );
      expect(missingFile.kind).toBe("password");
      expect(missingFile.message).toContain("cannot read the password file");
    },
    slow,
  );

  test(
    "forget with keep_last 1 leaves only the newest snapshot; check and a read-data subset pass",
    async () => {
      const options = await harnessRepository();
      for (const day of ["01", "02", "03"]) {
        await runBackup(source, {
          ...options,
          host: "web01",
          tags: [`202611${day}_000000`],
          time: new Date(`2026-11-${day}T00:00:00Z`),
        });
      }
      expect(await listSnapshots(options, { host: "web01" })).toHaveLength(3);
      await runRestic(resticForgetArgs({ keep_last: 1 }, { prune: true }), options);
      const remaining = await listSnapshots(options, { host: "web01" });
      expect(remaining.map((snapshot) => snapshot.tags)).toEqual([["backupctl", "20261103_000000"]]);
      expect((await options.handle.snapshots()).map((snapshot) => snapshot.tags)).toEqual([
        ["backupctl", "20261103_000000"],
      ]);
      const check = await runRestic(resticCheckArgs(), options);
      expect(check.exitCode).toBe(0);
      const subset = await runRestic(resticCheckArgs({ readDataSubset: "1/3" }), options);
      expect(subset.exitCode).toBe(0);
      expect(subset.argv).toContain("--read-data-subset=1/3");
    },
    slow,
  );

  test(
    "a damaged data pack passes the structural check but fails --read-data-subset",
    async () => {
      const options = freshRepository();
      await initRepository(options);
      await runBackup(source, { ...options, host: "web01" });
      const dataDirectory = join(options.repository, "data");
      const packs = readdirSync(dataDirectory, { recursive: true, withFileTypes: true }).filter((entry) =>
        entry.isFile(),
      );
      for (const pack of packs) {
        const path = join(pack.parentPath, pack.name);
        const bytes = new Uint8Array(await Bun.file(path).arrayBuffer());
        bytes[10] = (bytes[10] ?? 0) ^ 0xff;
        chmodSync(path, 0o600);
        writeFileSync(path, bytes);
      }
      const error = await caught(() => runRestic(resticCheckArgs({ readDataSubset: "1/1" }), options));
      expect(error.kind).toBe("failed");
      expect(error.resticExitCode).toBe(1);
    },
    slow,
  );

  test(
    "source files restic cannot read make a partial snapshot (exit 3), not an exception",
    async () => {
      const options = freshRepository();
      await initRepository(options);
      // reading /proc/self/mem from offset 0 fails with EIO: a real unreadable file, even for root
      const outcome = await runBackup("/proc/self/mem", { ...options, host: "web01" });
      expect(outcome.isPartial).toBe(true);
      expect(outcome.result.exitCode).toBe(3);
      expect(outcome.summary?.snapshotId).toMatch(/^[0-9a-f]+$/);
      expect(await listSnapshots(options)).toHaveLength(1);
      expect(logLines.some((line) => line.includes("WARN") && line.includes("partial"))).toBe(true);
    },
    slow,
  );

  test(
    "a repository locked by a running backup is the locked kind; unlock leaves the live lock alone",
    async () => {
      const options = freshRepository();
      await initRepository(options);
      const holder = spawnStream(
        [
          "restic",
          `--cache-dir=${options.cacheDir}`,
          `--repo=${options.repository}`,
          "backup",
          "--stdin",
          "--host=holder",
        ],
        { stdin: "pipe", stdout: "ignore", env: { RESTIC_PASSWORD_FILE: passwordFile } },
      );
      try {
        const locks = join(options.repository, "locks");
        for (let attempt = 0; attempt < 100 && readdirSync(locks).length === 0; attempt++)
          await Bun.sleep(50);
        expect(readdirSync(locks)).toHaveLength(1);
        await runRestic(resticUnlockArgs(), options);
        expect(readdirSync(locks)).toHaveLength(1);
        const error = await caught(() =>
          runRestic(resticForgetArgs({ keep_last: 1 }, { prune: true }), options),
        );
        expect(error.kind).toBe("locked");
        expect(error.message).toMatch(/locked .*PID \d+/);
      } finally {
        holder.stdin?.end("streamed\n");
        await holder.wait();
      }
      expect(await listSnapshots(options, { host: "holder" })).toHaveLength(1);
    },
    slow,
  );

  test(
    "dry-run logs the backup and creates nothing",
    async () => {
      const options = freshRepository();
      await initRepository(options);
      const outcome = await runBackup(source, { ...options, host: "web01", isDryRun: true });
      expect(outcome.result.skipped).toBe(true);
      expect(outcome.summary).toBeUndefined();
      expect(await listSnapshots(options)).toEqual([]);
      expect(logLines.some((line) => line.includes("would run: restic") && line.includes("backup"))).toBe(
        true,
      );
    },
    slow,
  );

  test(
    "an abort is the interrupted kind and a timeout a failure that says so",
    async () => {
      const options = await harnessRepository();
      const controller = new AbortController();
      controller.abort();
      const aborted = await caught(() => listSnapshots({ ...options, signal: controller.signal }));
      expect(aborted.kind).toBe("interrupted");
      // opening the repository alone (key derivation) takes restic longer than 20 ms
      const timedOut = await caught(() => runRestic(resticCheckArgs(), { ...options, timeoutMs: 20 }));
      expect(timedOut.kind).toBe("failed");
      expect(timedOut.message).toContain("timed out");
      // the killed command leaves the repository usable for the next one
      await runRestic(resticCheckArgs(), options);
    },
    slow,
  );

  test(
    "restic missing from PATH is a failure that names the command",
    async () => {
      const options = freshRepository();
      const error = await caught(() =>
        listSnapshotsIfRepository({ ...options, resticCommand: [join(root, "no-restic")] }),
      );
      expect(error.kind).toBe("failed");
      expect(error.message).toContain("no-restic");
    },
    slow,
  );

  test(
    "the repository reaches restic as RESTIC_REPOSITORY, never on its command line, and the whole restic_cmd prefix runs",
    async () => {
      const options = await harnessRepository();
      // a restic_cmd of several words: env sets a marker, then a wrapper records what restic gets
      const record = join(root, "restic-call");
      const wrapper = join(root, "restic-wrapper");
      writeFileSync(
        wrapper,
        `#!/bin/sh\nprintf '%s\\n' "$BKPCTL_PREFIX_MARK" "$RESTIC_REPOSITORY" "$@" > '${record}'\nexec restic "$@"\n`,
        { mode: 0o755 },
      );
      const snapshots = await listSnapshots({
        ...options,
        resticCommand: ["env", "BKPCTL_PREFIX_MARK=prefix-ran", wrapper],
      });
      expect(snapshots).toEqual([]);
      const [mark, environmentRepository, ...argv] = readFileSync(record, "utf8").trimEnd().split("\n");
      expect(mark).toBe("prefix-ran");
      expect(environmentRepository).toBe(options.repository);
      expect(argv).toContain("snapshots");
      expect(argv.join(" ")).not.toContain(options.repository);
      expect(argv.some((argument) => argument.startsWith("--repo"))).toBe(false);
    },
    slow,
  );

  // runs last: it covers every line logged and every error thrown by the tests above, at debug level
  test("no repository password appears in a log line or an error message", () => {
    expect(logLines.length).toBeGreaterThan(50);
    expect(thrownMessages.length).toBeGreaterThan(5);
    const passwords = [
      password,
      ...harnessRepositories.map((handle) => readFileSync(handle.passwordFile, "utf8").trim()),
    ];
    expect(passwords.length).toBeGreaterThan(1);
    for (const secret of passwords) {
      expect(logLines.filter((line) => line.includes(secret))).toEqual([]);
      expect(thrownMessages.filter((message) => message.includes(secret))).toEqual([]);
    }
  });
});

describe("runRestic before restic starts", () => {
  const options = { repository: "/srv/restic/web01", passwordFile: "/nonexistent/password" };

  test("refuses options that would name a second repository, in any spelling, before --", async () => {
    for (const named of ["-r", "-r/elsewhere", "--repo", "--repo=/elsewhere", "--repository-file=/f"]) {
      await expect(runRestic(["backup", named, "/elsewhere", "--", "/data"], options)).rejects.toThrow(
        `Cannot run restic on "/srv/restic/web01": its options name a repository too ("${named}")`,
      );
    }
  });

  test("a path after -- may look like an option; an empty repository is refused", async () => {
    await expect(
      runRestic(["backup", "--", "--repo=x"], { ...options, repository: " ", isDryRun: true }),
    ).rejects.toThrow("Cannot run restic: the repository is empty");
    const planned = await runRestic(["backup", "--", "--repo=x"], { ...options, isDryRun: true });
    expect(planned.skipped).toBe(true);
    expect(planned.argv).toEqual(["restic", "backup", "--", "--repo=x"]);
  });
});

describe("classifyResticFailure", () => {
  const cases: [string, number | null, string[], ResticFailureKind][] = [
    ["exit 10 (restic ≥ 0.17)", 10, [], "missing"],
    ["exit 11 (restic ≥ 0.17)", 11, [], "locked"],
    ["exit 12 (restic ≥ 0.17)", 12, [], "password"],
    ["exit 130", 130, [], "interrupted"],
    [
      "0.14's missing local repository",
      1,
      [
        "Fatal: unable to open config file: stat /srv/restic/web01/config: no such file or directory",
        "Is there a repository at the following location?",
        "/srv/restic/web01",
      ],
      "missing",
    ],
    [
      "0.14's unreachable REST server, which is not a missing repository",
      1,
      [
        'Fatal: unable to open config file: client.Head: Head "http://127.0.0.1:1/config": dial tcp 127.0.0.1:1: connect: connection refused',
        "Is there a repository at the following location?",
        "rest:http://127.0.0.1:1/",
      ],
      "failed",
    ],
    ["0.14's wrong password", 1, ["Fatal: wrong password or no key found"], "password"],
    [
      "0.14's missing password file",
      1,
      ["Resolving password failed: Fatal: /etc/x does not exist"],
      "password",
    ],
    [
      "0.14's lock conflict",
      1,
      [
        "unable to create lock in backend: repository is already locked by PID 16560 on vm by root (UID 0, GID 0)",
      ],
      "locked",
    ],
    ["a damaged repository", 1, ["Fatal: repository contains errors"], "failed"],
    ["an unknown exit code", 42, [], "failed"],
    ["a kill by signal", null, [], "failed"],
  ];
  for (const [name, exitCode, stderrTail, kind] of cases) {
    test(name, () => expect(classifyResticFailure(exitCode, stderrTail)).toBe(kind));
  }
});

describe("parseBackupSummary and parseSnapshots", () => {
  test("takes the last summary line among status lines", () => {
    const stdout = [
      '{"message_type":"status","percent_done":0,"total_files":1,"total_bytes":3}',
      '{"message_type":"summary","files_new":2,"files_changed":1,"files_unmodified":3,"dirs_new":3,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":2,"tree_blobs":4,"data_added":1739,"total_files_processed":6,"total_bytes_processed":6,"total_duration":0.2,"snapshot_id":"b02722e1"}',
      "",
    ].join("\n");
    expect(parseBackupSummary(stdout)).toEqual({
      snapshotId: "b02722e1",
      filesNew: 2,
      filesChanged: 1,
      filesUnmodified: 3,
      dirsNew: 3,
      dirsChanged: 0,
      dirsUnmodified: 0,
      dataBlobs: 2,
      treeBlobs: 4,
      dataAdded: 1739,
      totalFilesProcessed: 6,
      totalBytesProcessed: 6,
      totalDurationSeconds: 0.2,
    });
  });

  const withoutSummary: [string, string][] = [
    ["no output", ""],
    ["status lines only", '{"message_type":"status","percent_done":1}\n'],
    ["a summary without snapshot", '{"message_type":"summary","files_new":1}'],
    ["garbage", "{not json"],
  ];
  for (const [name, stdout] of withoutSummary) {
    test(`finds no summary in ${name}`, () => expect(parseBackupSummary(stdout)).toBeUndefined());
  }

  test("reads snapshots oldest first with hostname as host", () => {
    const stdout = JSON.stringify([
      {
        time: "2026-11-02T00:00:00Z",
        hostname: "web01",
        tags: ["backupctl"],
        paths: ["/d"],
        id: "bb",
        short_id: "b",
      },
      { time: "2026-11-01T00:00:00-05:00", hostname: "web01", paths: ["/d"], id: "aa", short_id: "a" },
    ]);
    const snapshots = parseSnapshots(stdout);
    expect(snapshots.map((snapshot) => snapshot.id)).toEqual(["aa", "bb"]);
    expect(snapshots[0]?.time.toISOString()).toBe("2026-11-01T05:00:00.000Z");
    expect(snapshots[0]?.tags).toEqual([]);
    expect(snapshots[1]?.host).toBe("web01");
  });

  test("reads null and empty output as no snapshots, and refuses anything else", () => {
    expect(parseSnapshots("null")).toEqual([]);
    expect(parseSnapshots("")).toEqual([]);
    expect(() => parseSnapshots("{}")).toThrow("not a JSON array");
    expect(() => parseSnapshots('[{"id":"x"}]')).toThrow("no id or time");
  });
});
