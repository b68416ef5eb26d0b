// Catalogue group E, disk full and syscall faults, through the compiled binary: client staging and
// archive on a 16 MiB tmpfs that fills during the dump, the copy and the archive; the server's temp
// dir running out of bytes and of inodes while other hosts wait; a restic repository on a tmpfs that
// fills during backup; and fsync → EIO, rename → EXDEV injected with strace.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { binaryPath, runBinary } from "../e2e/binary.ts";
import {
  type DockerHandle,
  makeTempDir,
  removeTempDir,
  type SshdHandle,
  startDocker,
  startSshd,
} from "../harness/index.ts";
import { type ClientFixture, checkArchive, createClientFixture } from "./support/client-fixture.ts";
import { writeSlowWrapper } from "./support/fakebin.ts";
import { startBinary } from "./support/processes.ts";
import { openResults } from "./support/results.ts";
import {
  appendKnownHosts,
  archiveTimestamp,
  createServerFixture,
  type HostSpec,
  placeArchive,
  type ServerFixture,
} from "./support/server-fixture.ts";
import { type ComposeStackFixture, startComposeStack } from "./support/stack.ts";
import { buildTarGz, manifestMember, type TarMember } from "./support/tarball.ts";
import { mountSmallFilesystem, type SmallFilesystem } from "./support/tmpfs.ts";

const results = openResults("E-disk-full");
const mounts: SmallFilesystem[] = [];
const enospcOutcomes: string[] = [];

let root: string;
let docker: DockerHandle;
let sshd: SshdHandle;
let stack: ComposeStackFixture;
let server: ServerFixture;

/** Runs client run with the private dockerd. */
async function runClient(client: ClientFixture, argvPrefix: string[] = []) {
  const env = { ...process.env, ...docker.env, JOURNAL_STREAM: "" } as Record<string, string>;
  if (argvPrefix.length === 0)
    return await runBinary(["client", "run", "--config-dir", client.configDir], { env });
  const child = Bun.spawn([...argvPrefix, binaryPath, "client", "run", "--config-dir", client.configDir], {
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { exitCode, stdout, stderr };
}

/** A directory of incompressible data. */
function dataOf(name: string, bytes: number): string {
  const directory = join(root, "sources", name);
  mkdirSync(directory, { recursive: true });
  writeFileSync(join(directory, "blob.bin"), randomBytes(bytes));
  return directory;
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-E-");
  [docker, sshd, server] = await Promise.all([startDocker(), startSshd(), createServerFixture(root)]);
  stack = await startComposeStack(docker, root, { project: "diskfull", services: ["app"] });
}, 180_000);

afterAll(async () => {
  results.figure(
    "disk-full.enospc-scenarios-ended-clean",
    `${enospcOutcomes.length}/${enospcOutcomes.length}`,
    enospcOutcomes.join("; "),
  );
  for (const mount of mounts) mount.unmount();
  await Promise.all([docker?.stop(), sshd?.stop()]);
  if (root) await removeTempDir(root);
}, 120_000);

describe("disk full and syscall faults", () => {
  results.caseTest(
    33,
    "client staging on a 16 MiB filesystem that fills during the dump, the copy and the archive: ENOSPC is reported with the path, nothing partial is left, the lock is released, the stack runs again, old archives are kept, and no byte or inode leaks",
    async () => {
      const disk = mountSmallFilesystem(join(root, "client-disk"), "size=16m,nr_inodes=2000");
      mounts.push(disk);
      const client = createClientFixture(root, {
        hostname: "e33",
        config: {
          base_backup_dir: disk.path,
          tools: { docker_cmd: docker.composeCommand },
          compression: { algorithm: "gzip", level: 1 },
        },
      });
      const old = "e33-20200101_000000.tar.gz";
      writeFileSync(join(disk.path, old), "old");
      writeFileSync(join(disk.path, `${old}.sha256`), `${"0".repeat(64)}  ${old}\n`);
      const baseline = disk.usage();
      const slowTar = writeSlowWrapper(join(root, "bin"), "slow-tar", {
        realProgram: ["tar"],
        delaySeconds: 1,
      });
      const scenarios: { label: string; tasks: Record<string, unknown>; fillOnArchive?: boolean }[] = [
        {
          label: "dump",
          tasks: {
            command: { argv: ["head", "-c", "20000000", "/dev/urandom"], output: "dump.bin" },
            docker: stack.task(),
          },
        },
        { label: "copy", tasks: { docker: stack.task(), files: { paths: [dataOf("copy", 20_000_000)] } } },
        // 5 MB staged passes the free-space check before the archive; the disk is then filled from outside
        {
          label: "archive",
          tasks: { docker: stack.task(), files: { paths: [dataOf("archive", 5_000_000)] } },
          fillOnArchive: true,
        },
      ];
      for (const scenario of scenarios) {
        runSyncRemove(join(client.configDir, "disk"));
        client.writeService("disk", scenario.label, scenario.tasks);
        client.writeConfig({
          tools: {
            docker_cmd: docker.composeCommand,
            ...(scenario.fillOnArchive ? { tar_cmd: [slowTar] } : {}),
          },
        });
        const run = startBinary(["client", "run", "--config-dir", client.configDir], {
          env: { ...process.env, ...docker.env, JOURNAL_STREAM: "" } as Record<string, string>,
        });
        const filler = join(disk.path, "filler");
        if (scenario.fillOnArchive) {
          await run.waitForStderr("Writing archive");
          const free = statfsSync(disk.path);
          Bun.spawnSync([
            "fallocate",
            "-l",
            String(Math.max(4096, free.bavail * free.bsize - 256 * 1024)),
            filler,
          ]);
        }
        const exitCode = await run.exited;
        rmSync(filler, { force: true });
        const stderr = run.stderr();
        expect(`${scenario.label}: ${exitCode}`).not.toBe(`${scenario.label}: 0`);
        expect(stderr).toMatch(/ENOSPC|No space left on device/);
        // the message names the file that could not be written (the dump's output file, or a path on the disk)
        expect(stderr.includes(disk.path) || stderr.includes("dump.bin")).toBe(true);
        expect(client.leftovers()).toEqual([]);
        expect(await stack.running()).toEqual(["app"]);
        expect(client.stopRecords()).toEqual([]);
        expect(client.archives()).toEqual([old]);
        expect(disk.usage()).toEqual(baseline);
        enospcOutcomes.push(`client ${scenario.label}: exit ${exitCode}, clean, stack running`);
      }
      // more than the disk holds: refused by the free-space check before the archive (when the staged
      // copy is counted), or by ENOSPC while writing it (when files are archived in place) — cleanly either way
      runSyncRemove(join(client.configDir, "disk"));
      client.writeService("disk", "toolarge", { files: { paths: [dataOf("toolarge", 20_000_000)] } });
      client.writeConfig({ tools: { docker_cmd: docker.composeCommand } });
      const tooLarge = await runClient(client);
      expect(tooLarge.exitCode).not.toBe(0);
      expect(tooLarge.stderr).toMatch(/Not enough free space|No space left on device/);
      expect(client.leftovers()).toEqual([]);
      expect(client.archives()).toEqual([old]);
      expect(disk.usage()).toEqual(baseline);
      results.figure(
        "disk-full.client-bytes-leaked",
        0,
        "tmpfs usage equal to the baseline after each of the 3 scenarios",
      );
    },
  );

  results.caseTest(
    34,
    "the server's temp dir running out of bytes (host 1) and of inodes (host 2) fails only those hosts, frees their temp data, and host 3 is stored",
    async () => {
      const disk = mountSmallFilesystem(join(root, "server-temp"), "size=16m,nr_inodes=500");
      mounts.push(disk);
      const hosts = ["e34-bytes", "e34-inodes", "e34-fine"];
      const members: Record<string, TarMember[]> = {
        // compressible: its ~25 KiB archive passes the free-space check before the download (on a first
        // pull the archive's size is all the server knows), and 24 MiB fill the disk during the unpack
        "e34-bytes": [{ name: "./big.bin", data: Buffer.alloc(24 * 1024 * 1024, "backup ") }],
        "e34-inodes": [
          { name: "./many/", type: "5" },
          ...Array.from({ length: 1000 }, (_, index) => ({ name: `./many/${index}`, data: "x" })),
        ],
        "e34-fine": [{ name: "./small.txt", data: "fine\n" }],
      };
      appendKnownHosts(server.knownHostsFile, [
        `${hosts.map((host) => `[${host}]:${sshd.port}`).join(",")} ${sshd.hostPublicKey}`,
      ]);
      for (const host of hosts) {
        await server.createRepository(host);
        placeArchive(
          join(sshd.root, host),
          `${host}-${archiveTimestamp(new Date(Date.now() - 60_000))}.tar.gz`,
          buildTarGz([manifestMember(host), ...(members[host] as TarMember[])]),
          { owner: { uid: sshd.uid, gid: sshd.gid } },
        );
      }
      const spec = (host: string): HostSpec => ({
        hostname: host,
        port: sshd.port,
        sshUser: sshd.user,
        keyFile: sshd.privateKeyPath,
        remoteDir: join(sshd.remoteRoot, host),
        extra: { after_ingest: "keep" },
      });
      // min_free_space_mb 0: the unpack's own ENOSPC handling is under test here, not the margin kept
      // before the download (tests/e2e/server-pull.test.ts), which would refuse all three at once
      server.writeConfig(hosts.map(spec), {
        global: { local_temp_base_dir: disk.path, concurrency: 1, min_free_space_mb: 0 },
      });
      const baseline = disk.usage();
      const result = await runBinary(["server", "pull", "--config-dir", server.configDir]);
      expect(result.exitCode).toBe(3);
      for (const host of ["e34-bytes", "e34-inodes"]) {
        expect(server.hostState(host)?.last_attempt?.status).toBe("failed");
        expect(server.hostState(host)?.last_attempt?.error).toMatch(/ENOSPC|No space left/);
        expect(server.snapshots(host)).toHaveLength(0);
      }
      expect(server.hostState("e34-fine")?.last_attempt?.status).toBe("ok");
      expect(server.snapshots("e34-fine")).toHaveLength(1);
      const usage = disk.usage();
      // the per-host work dirs (0700, empty) stay; nothing else
      expect(usage.bytes).toBe(baseline.bytes);
      expect(usage.inodes - baseline.inodes).toBeLessThanOrEqual(hosts.length);
      for (const host of hosts) expect(readdirSync(join(disk.path, host))).toEqual([]);
      enospcOutcomes.push("server temp bytes: host failed, freed", "server temp inodes: host failed, freed");
    },
  );

  results.caseTest(
    35,
    "a restic repository whose filesystem fills during backup fails the host with the reason; after space is freed restic check passes and the next pull stores the archive",
    async () => {
      const disk = mountSmallFilesystem(join(root, "repository-disk"), "size=6m");
      mounts.push(disk);
      const host = "e35";
      appendKnownHosts(server.knownHostsFile, [`[${host}]:${sshd.port} ${sshd.hostPublicKey}`]);
      const repository = join(disk.path, host);
      await server.createRepository(host);
      runSyncRemove(repository);
      await import("node:fs/promises").then((fs) =>
        fs.cp(join(server.repositoryRoot, host), repository, { recursive: true }),
      );
      placeArchive(
        join(sshd.root, host),
        `${host}-${archiveTimestamp(new Date(Date.now() - 60_000))}.tar.gz`,
        buildTarGz([manifestMember(host), { name: "./big.bin", data: randomBytes(12 * 1024 * 1024) }]),
        { owner: { uid: sshd.uid, gid: sshd.gid } },
      );
      server.writeConfig([
        {
          hostname: host,
          port: sshd.port,
          sshUser: sshd.user,
          keyFile: sshd.privateKeyPath,
          remoteDir: join(sshd.remoteRoot, host),
          extra: { after_ingest: "keep", repository },
        },
      ]);
      const full = await runBinary(["server", "pull", "--config-dir", server.configDir]);
      expect(full.exitCode).toBe(1);
      expect(server.hostState(host)?.last_attempt?.error).toMatch(/no space left|ENOSPC/i);
      disk.resize("size=64m");
      const check = Bun.spawnSync(["restic", "--repo", repository, "--no-cache", "check"], {
        env: { ...process.env, RESTIC_PASSWORD_FILE: server.passwordFile },
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(check.exitCode).toBe(0);
      const retried = await runBinary(["server", "pull", "--config-dir", server.configDir]);
      expect(retried.exitCode).toBe(0);
      enospcOutcomes.push(
        "restic repository: host failed with the reason; check clean after freeing space; next pull stored",
      );
    },
  );

  results.caseTest(
    36,
    "fsync → EIO on the archive and rename → EXDEV (strace fault injection) end the run non-zero with no final archive and nothing partial; every rename stays in one directory, and the sidecar is written temp file → fsync → rename → fsync of the directory",
    async () => {
      const client = createClientFixture(root, { hostname: "e36" });
      client.writeService("files", "data", { files: { paths: [dataOf("e36", 1000)] } });
      const faults: Record<string, string[]> = {
        "fsync EIO": [
          "strace",
          "-f",
          "-qq",
          "-o",
          "/dev/null",
          "-e",
          "trace=fsync",
          "-e",
          "inject=fsync:error=EIO:when=1",
        ],
        // the first rename(2) publishes the lock directory, the second the archive
        "rename EXDEV": [
          "strace",
          "-f",
          "-qq",
          "-o",
          "/dev/null",
          "-e",
          "trace=rename",
          "-e",
          "inject=rename:error=EXDEV:when=2",
        ],
      };
      for (const [label, prefix] of Object.entries(faults)) {
        const result = await runClient(client, prefix);
        expect(`${label}: ${result.exitCode}`).toBe(`${label}: 1`);
        expect(result.stderr).toMatch(label === "fsync EIO" ? /EIO|i\/o error/i : /EXDEV|cross-device/i);
        expect(client.leftovers()).toEqual([]);
        // strace counts per thread, so the failing fsync may be the archive's or the directory's after the
        // rename: either no final archive, or a complete one without a sidecar, which the server never takes
        const published = client.archives().map((name) => checkArchive(client.baseDir, name));
        expect(published.filter((check) => !check.isReadable || check.hasSidecar)).toEqual([]);
        for (const check of published) rmSync(join(client.baseDir, check.name));
        enospcOutcomes.push(`${label}: exit 1, nothing published with a sidecar`);
        await Bun.sleep(1100);
      }
      const tracePath = join(root, "e36.trace");
      const traced = await runClient(client, [
        "strace",
        "-f",
        "-y",
        "-qq",
        "-o",
        tracePath,
        "-e",
        "trace=openat,write,fsync,fdatasync,rename,renameat",
      ]);
      expect(traced.exitCode).toBe(0);
      const lines = readFileSync(tracePath, "utf8").split("\n");
      const sidecarSteps = lines
        .map((line): string | undefined => {
          if (/openat\(.*\.tar\.gz\.sha256\.[^"]*\.tmp", O_WRONLY\|O_CREAT\|O_EXCL/.test(line))
            return "open temp";
          if (/^\d+\s+write\(\d+<[^>]*\.tar\.gz\.sha256\.[^>]*\.tmp>/.test(line)) return "write temp";
          if (/fsync\(\d+<[^>]*\.tar\.gz\.sha256\.[^>]*\.tmp>/.test(line)) return "fsync temp";
          if (/rename\(".*\.tar\.gz\.sha256\.[^"]*\.tmp", ".*\.tar\.gz\.sha256"\)/.test(line))
            return "rename";
          return undefined;
        })
        .filter((step): step is string => step !== undefined);
      const renameIndex = lines.findIndex((line) => /rename\(".*\.tar\.gz\.sha256\.[^"]*\.tmp"/.test(line));
      const directorySync = lines.slice(renameIndex + 1).find((line) => /fsync\(\d+<[^>]*>\)/.test(line));
      expect(sidecarSteps).toEqual(["open temp", "write temp", "fsync temp", "rename"]);
      // every rename stays within one directory: a temp file next to its target cannot meet EXDEV
      const crossDirectory = lines
        .map((line) => /rename\("([^"]+)", "([^"]+)"\)/.exec(line))
        .filter((match): match is RegExpExecArray => match !== null)
        .filter((match) => dirname(match[1] as string) !== dirname(match[2] as string));
      expect(crossDirectory.map((match) => match[0])).toEqual([]);
      expect(directorySync).toContain(`<${client.baseDir}>`);
      results.figure(
        "syscall-faults.order-of-an-atomic-write",
        "open temp → write → fsync → rename → fsync(dir)",
        "the .sha256 sidecar, from strace -f -y",
      );
    },
  );
});

/** Removes a path (recursive, missing is fine). */
function runSyncRemove(path: string): void {
  if (existsSync(path)) Bun.spawnSync(["rm", "-rf", "--one-file-system", path]);
}
