// Catalogue #14, a hostile directory listing: a fake SFTP server (ssh2's Server class, in the test)
// answers `server pull` with names holding "/", "..", NUL or LF, another host's archives, a 2099
// timestamp, 10^5 entries, sizes that lie and files that never end. Only `<host>-<UTC ts>.tar.gz`
// with a sidecar may be fetched, future timestamps are refused with a warning, and every download is
// bounded by the listed size or the unpacked-bytes cap.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { runBinary } from "../e2e/binary.ts";
import { makeTempDir, removeTempDir } from "../harness/index.ts";
import { type FakeFile, type HostileSftpServer, startHostileSftpServer } from "./support/hostile-sftp.ts";
import { openResults } from "./support/results.ts";
import {
  appendKnownHosts,
  archiveTimestamp,
  createServerFixture,
  type ServerFixture,
} from "./support/server-fixture.ts";
import { buildTarGz, manifestMember } from "./support/tarball.ts";

const results = openResults("B-hostile-listing");
const capBytes = 50 * 1024 * 1024;

let root: string;
let server: ServerFixture;
let fake: HostileSftpServer;
const timestamp = archiveTimestamp(new Date(Date.now() - 60_000));

/** An archive and its sidecar as the fake lists them. */
function archivePair(host: string, stamp: string, options: { listedSizeDelta?: number } = {}): FakeFile[] {
  const content = buildTarGz([manifestMember(host), { name: "./data.bin", data: randomBytes(64 * 1024) }]);
  const name = `${host}-${stamp}.tar.gz`;
  const sidecar = Buffer.from(`${new Bun.CryptoHasher("sha256").update(content).digest("hex")}  ${name}\n`);
  return [
    { name, content, listedSize: content.length + (options.listedSizeDelta ?? 0) },
    { name: `${name}.sha256`, content: sidecar, listedSize: sidecar.length },
  ];
}

/** Junk entries (with sidecars when asked) under names the selection must ignore. */
function junk(names: string[]): FakeFile[] {
  return names.flatMap((name) => [
    { name, content: Buffer.from("junk"), listedSize: 4 },
    { name: `${name}.sha256`, content: Buffer.from(`${"0".repeat(64)}  ${name}\n`), listedSize: 80 },
  ]);
}

const zeros = gzipSync(new Uint8Array(1024 * 1024), { level: 9 });

const scenarios: Record<string, { files: FakeFile[]; expected: "stored" | "failed"; errorMatch?: RegExp }> = {
  slashes: {
    files: junk([
      `../../etc/slashes-${timestamp}.tar.gz`,
      `x/slashes-${timestamp}.tar.gz`,
      `/abs/slashes-${timestamp}.tar.gz`,
    ]),
    expected: "failed",
    errorMatch: /No complete archive/,
  },
  dotdot: {
    files: [...junk([`../dotdot-${timestamp}.tar.gz`, ".."]), { name: ".", isDirectory: true }],
    expected: "failed",
    errorMatch: /No complete archive/,
  },
  nul: {
    files: junk([`nul-${timestamp}.tar.gz\0.evil`, `nul\0-${timestamp}.tar.gz`]),
    expected: "failed",
    errorMatch: /No complete archive/,
  },
  newline: {
    files: junk([
      `newline-${timestamp}.tar.gz\n`,
      `newline-${timestamp}\n.tar.gz`,
      `\nnewline-${timestamp}.tar.gz`,
    ]),
    expected: "failed",
    errorMatch: /No complete archive/,
  },
  otherhost: {
    files: archivePair("intruder", timestamp),
    expected: "failed",
    errorMatch: /No complete archive/,
  },
  future: {
    files: [...archivePair("future", "20990101_000000"), ...archivePair("future", timestamp)],
    expected: "stored",
  },
  many: {
    files: [
      ...Array.from({ length: 99_998 }, (_, index) => ({
        name: `noise-${index}.log`,
        content: Buffer.from("x"),
        listedSize: 1,
      })),
      ...archivePair("many", timestamp),
    ],
    expected: "stored",
  },
  toomany: {
    files: [
      ...Array.from({ length: 99_999 }, (_, index) => ({
        name: `noise-${index}.log`,
        content: Buffer.from("x"),
        listedSize: 1,
      })),
      ...archivePair("toomany", timestamp),
    ],
    expected: "failed",
    errorMatch: /more than 100000 entries/,
  },
  smallsize: {
    files: archivePair("smallsize", timestamp, { listedSizeDelta: -100 }),
    expected: "failed",
    errorMatch: /more than the expected/,
  },
  bigsize: {
    files: archivePair("bigsize", timestamp, { listedSizeDelta: 100 }),
    expected: "failed",
    errorMatch: /bytes arrived, the archive has/,
  },
  endless: {
    files: [
      { name: `endless-${timestamp}.tar.gz`, endless: zeros, listedSize: 1024 * 1024 },
      {
        name: `endless-${timestamp}.tar.gz.sha256`,
        content: Buffer.from(`${"a".repeat(64)}  endless-${timestamp}.tar.gz\n`),
        listedSize: 100,
      },
    ],
    expected: "failed",
    errorMatch: /more than the expected 1048576 bytes/,
  },
  endlessnosize: {
    files: [
      { name: `endlessnosize-${timestamp}.tar.gz`, endless: zeros, listedSize: undefined },
      {
        name: `endlessnosize-${timestamp}.tar.gz.sha256`,
        content: Buffer.from(`${"a".repeat(64)}  endlessnosize-${timestamp}.tar.gz\n`),
        listedSize: 100,
      },
    ],
    expected: "failed",
    errorMatch: /52428800/,
  },
};

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-B14-");
  server = await createServerFixture(root);
  fake = await startHostileSftpServer(
    root,
    Object.fromEntries(
      Object.entries(scenarios).map(([user, scenario]) => [user, { files: scenario.files }]),
    ),
  );
  const hosts = Object.keys(scenarios);
  appendKnownHosts(server.knownHostsFile, [
    `${hosts.map((host) => `[${host}]:${fake.port}`).join(",")} ${fake.hostPublicKey}`,
  ]);
  await Promise.all(hosts.map((host) => server.createRepository(host)));
  server.writeConfig(
    hosts.map((host) => ({
      hostname: host,
      port: fake.port,
      sshUser: host,
      keyFile: fake.clientKeyFile,
      remoteDir: fake.remoteDir,
      extra: { after_ingest: "keep" },
    })),
    { global: { max_archive_bytes: capBytes, concurrency: 3 } },
  );
}, 120_000);

afterAll(async () => {
  await fake?.stop();
  if (root) await removeTempDir(root);
});

describe("hostile directory listings (server pull against a fake SFTP server)", () => {
  results.caseTest(
    14,
    "only <host>-<UTC ts>.tar.gz with a sidecar is fetched; names with /, .., NUL, LF or another host's name are never opened; a 2099 archive is refused with a warning; 10^5 entries are listed; lying sizes and endless files fail within their bounds",
    async () => {
      const startedAt = performance.now();
      const result = await runBinary(["server", "pull", "--config-dir", server.configDir]);
      const elapsedMs = performance.now() - startedAt;
      const outcomes = Object.entries(scenarios).map(([host, scenario]) => {
        const attempt = server.hostState(host)?.last_attempt;
        const snapshots = server.snapshots(host);
        const log = fake.logs.get(host);
        const isStored =
          (attempt?.status === "ok" || attempt?.status === "partial") && snapshots.length === 1;
        const isFailed =
          attempt?.status === "failed" &&
          snapshots.length === 0 &&
          (scenario.errorMatch?.test(attempt.error ?? "") ?? true);
        return {
          host,
          status: attempt?.status,
          error: attempt?.error,
          opened: log?.opened ?? [],
          bytesServed: log?.bytesServed ?? 0,
          tags: snapshots[0]?.tags ?? [],
          asExpected: scenario.expected === "stored" ? isStored : isFailed,
        };
      });
      const unexpected = outcomes.filter((outcome) => !outcome.asExpected);
      results.figure(
        "listing.scenarios-as-expected",
        `${outcomes.length - unexpected.length}/${outcomes.length}`,
        outcomes.map((outcome) => `${outcome.host}: ${outcome.status}`).join("; "),
      );
      results.figure(
        "listing.pull-ms-all-scenarios",
        Math.round(elapsedMs),
        "one pull of all scenarios, 3 at a time, including 2 × 10^5-entry listings",
      );
      expect(unexpected).toEqual([]);

      // nothing but a valid name was ever opened
      const validName = (host: string, name: string) =>
        new RegExp(`^/backups/${host}-\\d{8}_\\d{6}\\.tar\\.gz(\\.sha256)?$`).test(name);
      const strayOpens = outcomes.flatMap((outcome) =>
        outcome.opened
          .filter((name) => !validName(outcome.host, name))
          .map((name) => `${outcome.host}: ${JSON.stringify(name)}`),
      );
      expect(strayOpens).toEqual([]);
      for (const host of ["slashes", "dotdot", "nul", "newline", "otherhost"]) {
        expect(outcomes.find((outcome) => outcome.host === host)?.opened).toEqual([]);
      }
      const future = outcomes.find((outcome) => outcome.host === "future");
      expect(future?.tags).toContain(timestamp);
      expect(future?.opened.some((name) => name.includes("2099"))).toBe(false);
      expect(result.stderr).toMatch(/future-20990101_000000\.tar\.gz.*future/);
      // bounded downloads: the listed size (plus the read window), or the unpacked-bytes cap
      const endless = outcomes.find((outcome) => outcome.host === "endless");
      const endlessNoSize = outcomes.find((outcome) => outcome.host === "endlessnosize");
      results.figure(
        "listing.endless-bytes-served-with-size",
        endless?.bytesServed ?? -1,
        "listed size 1 MiB",
      );
      results.figure(
        "listing.endless-bytes-served-without-size",
        endlessNoSize?.bytesServed ?? -1,
        `unpacked-bytes cap ${capBytes}`,
      );
      expect(endless?.bytesServed).toBeLessThan(1024 * 1024 + 4 * 1024 * 1024);
      expect(endlessNoSize?.bytesServed).toBeLessThan(capBytes);
      expect(result.exitCode).toBe(3);
    },
    300_000,
  );
});
