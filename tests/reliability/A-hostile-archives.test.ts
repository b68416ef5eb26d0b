// Catalogue group A, hostile archives from a compromised client: crafted tarballs served by a real
// loopback sshd, pulled by the compiled `backupctl server pull` into real restic repositories. The
// witness (a digest of the directory the archives aim at, and of the clients' dirs) must not change;
// a refused archive fails its host without a snapshot and leaves nothing unpacked, while the other
// hosts of the same run are stored.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { runBinary } from "../e2e/binary.ts";
import { runSync } from "../e2e/fixtures.ts";
import { makeTempDir, removeTempDir, type SshdHandle, startSshd } from "../harness/index.ts";
import { createClientFixture } from "./support/client-fixture.ts";
import { entryBomb, hostileCorpus, zeroBomb } from "./support/hostile-corpus.ts";
import { startBinary } from "./support/processes.ts";
import { openResults } from "./support/results.ts";
import { samplePeaks } from "./support/sampling.ts";
import {
  appendKnownHosts,
  archiveTimestamp,
  createServerFixture,
  type HostSpec,
  placeArchive,
  type ServerFixture,
} from "./support/server-fixture.ts";
import { buildTar, buildTarGz, manifestMember, type TarMember } from "./support/tarball.ts";
import { compareDigests, digestTree } from "./support/witness.ts";

const results = openResults("A-hostile-archives");
const capBytes = 50 * 1024 * 1024;
const capEntries = 10_000;

let root: string;
let outside: string;
let sshd: SshdHandle;
let server: ServerFixture;
let timestamp: string;

/** The hosts[] entry of a host served from its own subdir of the sshd's remote dir. */
function hostSpec(hostname: string, extra: Record<string, unknown> = {}): HostSpec {
  return {
    hostname,
    port: sshd.port,
    sshUser: sshd.user,
    keyFile: sshd.privateKeyPath,
    remoteDir: join(sshd.remoteRoot, hostname),
    extra: { after_ingest: "keep", ...extra },
  };
}

/** Places an archive for a host (named with the run's timestamp unless given). */
function serve(
  host: string,
  bytes: Uint8Array,
  options: { sidecar?: string | false; stamp?: string } = {},
): string {
  const name = `${host}-${options.stamp ?? timestamp}.tar.gz`;
  placeArchive(join(sshd.root, host), name, bytes, {
    owner: { uid: sshd.uid, gid: sshd.gid },
    sidecar: options.sidecar,
  });
  return name;
}

/** Trusts the sshd's host key under each name. */
function trust(hosts: string[]): void {
  appendKnownHosts(server.knownHostsFile, [
    `${hosts.map((host) => `[${host}]:${sshd.port}`).join(",")} ${sshd.hostPublicKey}`,
  ]);
}

/** A legitimate archive: the manifest and a small data tree. */
function legitimateArchive(host: string, extra: TarMember[] = []): Buffer {
  return buildTarGz([
    manifestMember(host),
    { name: "./files/", type: "5" },
    { name: "./files/app/", type: "5" },
    { name: "./files/app/data/", type: "5" },
    { name: "./files/app/data/readme.txt", data: "hello\n" },
    ...extra,
  ]);
}

/** Directories the server must never write to: the target of the attacks, and the clients' dirs. */
function witness(): Map<string, string> {
  const combined = new Map<string, string>();
  for (const [path, detail] of digestTree(outside)) combined.set(`outside/${path}`, detail);
  for (const [path, detail] of digestTree(sshd.root)) combined.set(`remote/${path}`, detail);
  return combined;
}

/** What remains in the server's temp base: every path below the per-host work dirs. */
function tempLeftovers(): string[] {
  if (!existsSync(server.tempBase)) return [];
  return readdirSync(server.tempBase).flatMap((host) =>
    readdirSync(join(server.tempBase, host)).map((name) => `${host}/${name}`),
  );
}

/** Runs server pull for the hosts. */
async function pull(hosts: string[]) {
  return await runBinary([
    "server",
    "pull",
    "--config-dir",
    server.configDir,
    ...hosts.flatMap((host) => ["--host", host]),
  ]);
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-A-");
  outside = join(root, "outside");
  mkdirSync(outside);
  writeFileSync(join(outside, "target"), "the outside file\n");
  writeFileSync(join(outside, "hardtarget"), "the outside hardlink target\n");
  [sshd, server] = await Promise.all([startSshd(), createServerFixture(root)]);
  timestamp = archiveTimestamp(new Date(Date.now() - 60_000));
}, 120_000);

afterAll(async () => {
  await sshd?.stop();
  if (root) await removeTempDir(root);
}, 60_000);

describe("hostile archives (server pull)", () => {
  results.caseTest(
    [1, 2, 4, 5, 7, 8, 11],
    "every crafted archive of the corpus is refused (host failed, no snapshot, nothing unpacked left) or contained, no byte changes outside the temp dir, and a good host in the same run is stored",
    async () => {
      const corpus = hostileCorpus(outside);
      const good = "a00-good";
      const hosts = [good, ...corpus.map((entry) => entry.host)];
      trust(hosts);
      serve(good, legitimateArchive(good));
      for (const entry of corpus) serve(entry.host, entry.bytes);
      await Promise.all(hosts.map((host) => server.createRepository(host)));
      server.writeConfig(
        hosts.map((host) => hostSpec(host)),
        {
          global: { max_archive_bytes: capBytes, max_archive_entries: capEntries },
        },
      );
      const before = witness();
      const linkCount = statSync(join(outside, "hardtarget")).nlink;

      const result = await pull(hosts);

      const changed = compareDigests(before, witness());
      const outcomes = corpus.map((entry) => {
        const attempt = server.hostState(entry.host)?.last_attempt;
        const snapshots = server.snapshots(entry.host).length;
        const isRefused = attempt?.status === "failed" && snapshots === 0;
        const isContained = (attempt?.status === "ok" || attempt?.status === "partial") && snapshots === 1;
        const asExpected =
          entry.expected === "refused"
            ? isRefused && (entry.errorMatch ? entry.errorMatch.test(attempt?.error ?? "") : true)
            : isContained;
        return {
          host: entry.host,
          attack: entry.attack,
          expected: entry.expected,
          status: attempt?.status,
          error: attempt?.error,
          asExpected,
        };
      });
      const unexpected = outcomes.filter((outcome) => !outcome.asExpected);
      results.figure(
        "hostile.corpus-size",
        corpus.length + 1 + 6 + 3,
        "the pull corpus, plus the bomb, two-night, setuid and six truncated/corrupt archives tested below",
      );
      results.figure(
        "hostile.pull-corpus-as-expected",
        `${outcomes.length - unexpected.length}/${outcomes.length}`,
        outcomes.map((outcome) => `${outcome.host}: ${outcome.status}`).join("; "),
      );
      results.figure(
        "hostile.pull-corpus-refused",
        outcomes.filter((outcome) => outcome.expected === "refused" && outcome.asExpected).length,
      );
      results.figure(
        "hostile.pull-corpus-contained",
        outcomes.filter((outcome) => outcome.expected === "contained" && outcome.asExpected).length,
      );
      results.figure("hostile.paths-changed-outside-temp", changed.length, changed.join(", "));
      expect(unexpected).toEqual([]);
      expect(changed).toEqual([]);
      expect(statSync(join(outside, "hardtarget")).nlink).toBe(linkCount);
      expect(existsSync(join(server.tempBase, "escape-dotdot"))).toBe(false);
      expect(tempLeftovers()).toEqual([]);
      expect(server.hostState(good)?.last_attempt?.status).toBe("ok");
      expect(server.snapshots(good)).toHaveLength(1);
      expect(result.exitCode).toBe(3);
    },
    300_000,
  );

  results.caseTest(
    3,
    "a link planted by one night's archive (x -> ../../..) cannot be reached by the next night's x/cron.d/evil: both stay inside a fresh temp dir",
    async () => {
      const host = "a03-two-nights";
      trust([host]);
      await server.createRepository(host);
      server.writeConfig([hostSpec(host, { after_ingest: "delete" })]);
      const before = digestTree(outside);
      const first = archiveTimestamp(new Date(Date.now() - 120_000));
      serve(host, legitimateArchive(host, [{ name: "x", type: "2", linkName: "../../.." }]), {
        stamp: first,
      });
      expect((await pull([host])).exitCode).toBe(0);
      serve(
        host,
        legitimateArchive(host, [{ name: "x/cron.d/evil", data: "* * * * * root touch /pwned\n" }]),
        { stamp: timestamp },
      );
      const second = await pull([host]);
      expect(second.exitCode).toBe(0);
      const snapshots = server.snapshots(host);
      expect(snapshots).toHaveLength(2);
      // the second snapshot holds x/cron.d/evil as a plain directory and file under the stable path
      const listing = server.restic(host, ["ls", "latest"]);
      expect(listing).toContain(`${server.tempBase}/${host}/data/x/cron.d/evil`);
      expect(compareDigests(before, digestTree(outside))).toEqual([]);
      expect(existsSync(join(root, "cron.d"))).toBe(false);
      expect(tempLeftovers()).toEqual([]);
    },
  );

  results.caseTest(
    6,
    "setuid, setgid and foreign owners are stored as archived, unreachable meanwhile: the work dir is 0700 root and the nobody account cannot enter it",
    async () => {
      const host = "a06-setuid";
      trust([host]);
      await server.createRepository(host);
      server.writeConfig([hostSpec(host)]);
      serve(
        host,
        legitimateArchive(host, [
          { name: "bin/", type: "5" },
          { name: "bin/suid", data: "#!/bin/sh\n", mode: 0o4755, uid: 0, gid: 0 },
          { name: "shared/", type: "5", mode: 0o2777 },
          { name: "owned-by-1000", data: "x\n", uid: 1000, gid: 1000 },
        ]),
      );
      expect((await pull([host])).exitCode).toBe(0);
      const workDir = join(server.tempBase, host);
      const workStat = lstatSync(workDir);
      expect({ mode: workStat.mode & 0o7777, uid: workStat.uid }).toEqual({ mode: 0o700, uid: 0 });
      expect(lstatSync(server.tempBase).mode & 0o077).toBe(0);
      const asNobody = Bun.spawnSync(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "ls", workDir],
        { stderr: "pipe" },
      );
      expect(asNobody.exitCode).not.toBe(0);
      expect(asNobody.stderr.toString()).toContain("Permission denied");
      const restored = join(root, "restore-a06");
      server.restic(host, ["restore", "latest", "--target", restored]);
      const data = join(restored, server.tempBase, host, "data");
      expect(statSync(join(data, "bin/suid")).mode & 0o7777).toBe(0o4755);
      expect(statSync(join(data, "shared")).mode & 0o7777).toBe(0o2777);
      expect(statSync(join(data, "owned-by-1000")).uid).toBe(1000);
      const mountOptions = runSync([
        "findmnt",
        "--noheadings",
        "--output",
        "OPTIONS",
        "--target",
        server.tempBase,
      ]).trim();
      results.figure(
        "hostile.setuid-choice",
        "kept as archived under a 0700 root-only parent",
        `temp mount options here: ${mountOptions}; nobody denied: ${asNobody.exitCode !== 0}`,
      );
    },
  );

  results.caseTest(
    7,
    "a gzip bomb (about 1 MB expanding to 1 GiB of zeros in 8 MiB files) stops at the 50 MB cap with a clear error; disk and memory stay near the cap; the temp dir is removed",
    async () => {
      const host = "a07-gzip-bomb";
      const bomb = await zeroBomb(host, 1024 ** 3);
      trust([host]);
      await server.createRepository(host);
      server.writeConfig([hostSpec(host)], { global: { max_archive_bytes: capBytes } });
      serve(host, bomb);
      const run = startBinary(["server", "pull", "--config-dir", server.configDir, "--host", host]);
      const peaks = await samplePeaks(run.pid, server.tempBase, run.exited);
      expect(await run.exited).toBe(1);
      const attempt = server.hostState(host)?.last_attempt;
      expect(attempt?.error).toMatch(/cap of 52428800 unpacked bytes|more than 52428800 bytes/);
      expect(server.snapshots(host)).toHaveLength(0);
      expect(tempLeftovers()).toEqual([]);
      results.figure("hostile.bomb-compressed-bytes", bomb.length);
      results.figure("hostile.bomb-cap-bytes", capBytes);
      results.figure(
        "hostile.bomb-peak-disk-bytes",
        peaks.diskBytes,
        `${peaks.samples} samples of the temp base every 25 ms`,
      );
      results.figure(
        "hostile.bomb-peak-rss-bytes",
        peaks.residentBytes,
        "backupctl and its decompressor together",
      );
      expect(peaks.diskBytes).toBeLessThan(capBytes + 8 * 1024 * 1024);
    },
  );

  /** Serves an entry-count bomb and checks that the pull stops at the cap. */
  async function entryBombTest(host: string, count: number): Promise<void> {
    const bomb = await entryBomb(host, count);
    trust([host]);
    await server.createRepository(host);
    server.writeConfig([hostSpec(host)], { global: { max_archive_entries: capEntries } });
    serve(host, bomb);
    const run = startBinary(["server", "pull", "--config-dir", server.configDir, "--host", host]);
    const peaks = await samplePeaks(run.pid, server.tempBase, run.exited);
    expect(await run.exited).toBe(1);
    expect(server.hostState(host)?.last_attempt?.error).toContain(`more than ${capEntries} entries`);
    expect(server.snapshots(host)).toHaveLength(0);
    expect(tempLeftovers()).toEqual([]);
    results.figure(
      `hostile.entry-bomb-${count}-peak-rss-bytes`,
      peaks.residentBytes,
      `${bomb.length} compressed bytes`,
    );
  }

  results.caseTest(
    8,
    "an entry-count bomb of 100,000 empty files stops at the 10,000-entry cap, without running out of memory",
    async () => await entryBombTest("a08-entry-bomb", 100_000),
  );

  results.slowCaseTest(
    8,
    "an entry-count bomb of 1,000,000 empty files stops at the 10,000-entry cap, without running out of memory",
    async () => await entryBombTest("a08-entry-bomb-million", 1_000_000),
  );

  results.caseTest(
    9,
    "truncated and corrupt archives are refused before restic runs, whether or not the sidecar matches: cut at 50%, gzip trailer removed, a flipped byte, no end-of-archive blocks, 0 bytes",
    async () => {
      const payload: TarMember[] = [manifestMember("x"), { name: "big.bin", data: randomBytes(256 * 1024) }];
      const whole = buildTarGz(payload);
      const flipped = Buffer.from(whole);
      const middle = Math.floor(flipped.length / 2);
      flipped[middle] = (flipped[middle] ?? 0) ^ 0x55;
      const variants: { host: string; bytes: Uint8Array; sidecar?: string }[] = [
        {
          host: "a09-cut-old-sidecar",
          bytes: whole.subarray(0, middle),
          sidecar: `${new Bun.CryptoHasher("sha256").update(whole).digest("hex")}  NAME\n`,
        },
        { host: "a09-cut", bytes: whole.subarray(0, middle) },
        { host: "a09-no-trailer", bytes: whole.subarray(0, whole.length - 8) },
        { host: "a09-flipped-byte", bytes: flipped },
        { host: "a09-no-end-blocks", bytes: gzipSync(buildTar(payload, { endBlocks: false })) },
        { host: "a09-empty", bytes: new Uint8Array(0) },
      ];
      const hosts = variants.map((variant) => variant.host);
      trust(hosts);
      await Promise.all(hosts.map((host) => server.createRepository(host)));
      server.writeConfig(hosts.map((host) => hostSpec(host)));
      for (const variant of variants) {
        const name = `${variant.host}-${timestamp}.tar.gz`;
        serve(
          variant.host,
          variant.bytes,
          variant.sidecar ? { sidecar: variant.sidecar.replace("NAME", name) } : {},
        );
      }
      const result = await pull(hosts);
      expect(result.exitCode).toBe(1);
      const refused = variants.filter((variant) => {
        const attempt = server.hostState(variant.host)?.last_attempt;
        return attempt?.status === "failed" && server.snapshots(variant.host).length === 0;
      });
      results.figure(
        "hostile.corrupt-archives-refused",
        `${refused.length}/${variants.length}`,
        variants
          .map(
            (variant) =>
              `${variant.host}: ${server.hostState(variant.host)?.last_attempt?.error?.slice(0, 120)}`,
          )
          .join("; "),
      );
      expect(refused.map((variant) => variant.host)).toEqual(hosts);
      // nothing reached restic: the stable data dir never became a snapshot path, and nothing is left
      expect(result.stderr).not.toContain("Stored");
      expect(tempLeftovers()).toEqual([]);
    },
  );

  results.caseTest(
    10,
    "hazardous file names (non-UTF-8, LF, CR, ANSI escapes, leading -, 255 bytes, NFC/NFD twins, trailing space) survive client run, pull and restic restore byte for byte, and no raw control byte reaches the log",
    async () => {
      const host = "a10-names";
      const source = join(root, "names-source");
      mkdirSync(source);
      const names = [
        Buffer.from([0x6e, 0x6f, 0x6e, 0x2d, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]),
        Buffer.from("line\nbreak"),
        Buffer.from("carriage\rreturn"),
        Buffer.from("\x1b[31mred\x1b[0m"),
        Buffer.from("-rf"),
        Buffer.from("n".repeat(255)),
        Buffer.from("caf\u00e9"),
        Buffer.from("cafe\u0301"),
        Buffer.from("trailing space "),
      ];
      for (const [index, name] of names.entries()) {
        writeFileSync(Buffer.concat([Buffer.from(`${source}/`), name]), `content ${index}\n`);
      }
      const client = createClientFixture(root, {
        hostname: host,
        config: {
          base_backup_dir: join(sshd.root, host),
          backup_user: sshd.user,
          backup_group: String(sshd.gid),
        },
      });
      mkdirSync(join(sshd.root, host), { recursive: true });
      client.writeService("files", "names", { files: { paths: [source] } });
      const clientRun = await runBinary([
        "client",
        "run",
        "--config-dir",
        client.configDir,
        "--log-level",
        "debug",
      ]);
      expect(clientRun.exitCode).toBe(0);
      trust([host]);
      await server.createRepository(host);
      server.writeConfig([hostSpec(host)]);
      const pulled = await runBinary([
        "server",
        "pull",
        "--config-dir",
        server.configDir,
        "--log-level",
        "debug",
      ]);
      expect(pulled.exitCode).toBe(0);
      const restored = join(root, "restore-a10");
      server.restic(host, ["restore", "latest", "--target", restored]);
      const restoredSource = join(restored, server.tempBase, host, "data", "files", "names", "data", source);
      const listed = readdirSync(restoredSource, { encoding: "buffer" })
        .map((name) => name.toString("hex"))
        .sort();
      expect(listed).toEqual(names.map((name) => name.toString("hex")).sort());
      for (const [index, name] of names.entries()) {
        const content = readFileSync(Buffer.concat([Buffer.from(`${restoredSource}/`), name]), "utf8");
        expect(content).toBe(`content ${index}\n`);
      }
      const rawControl = [clientRun.stderr, pulled.stderr].filter(
        (text) => text.includes("\x1b") || text.includes("\r"),
      );
      results.figure(
        "hostile.hazardous-names-round-trip",
        `${listed.length}/${names.length}`,
        "byte-exact after client run, pull and restic restore",
      );
      expect(rawControl).toEqual([]);
    },
  );
});
