// Catalogue #15 and #16, transfer faults: `server pull` (the compiled binary) reaches a real loopback
// sshd through the chaos proxy, which cuts the connection at 30% and 99% of the archive, stalls it,
// never sends a banner, or slows it down so the pull can be killed mid-download. Each fault must end
// in a clean host failure (no snapshot, nothing unpacked left) within the configured timeouts, and
// the next pull must store the archive with its verified sha256.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runBinary } from "../e2e/binary.ts";
import { makeTempDir, removeTempDir, type SshdHandle, startSshd } from "../harness/index.ts";
import { type ChaosProxy, startChaosProxy } from "./support/chaos-proxy.ts";
import { signalTree, startBinary, survivors, waitFor, watchDescendants } from "./support/processes.ts";
import { openResults } from "./support/results.ts";
import { diskBytes } from "./support/sampling.ts";
import {
  appendKnownHosts,
  archiveTimestamp,
  createServerFixture,
  placeArchive,
  type ServerFixture,
} from "./support/server-fixture.ts";
import { buildTarGz, manifestMember } from "./support/tarball.ts";

const results = openResults("B-transfer");
const host = "transfer01";
const timeoutSeconds = 3;
const archiveBytes = 4 * 1024 * 1024;

let root: string;
let sshd: SshdHandle;
let server: ServerFixture;
let proxy: ChaosProxy;
let archiveSize = 0;
let minutesAgo = 30;
const outcomes: string[] = [];

/** Serves a new archive (a newer timestamp each call) of incompressible data; returns its size. */
function serveNewArchive(): number {
  const bytes = buildTarGz([manifestMember(host), { name: "./data.bin", data: randomBytes(archiveBytes) }]);
  const name = `${host}-${archiveTimestamp(new Date(Date.now() - minutesAgo-- * 60_000))}.tar.gz`;
  placeArchive(join(sshd.root, host), name, bytes, { owner: { uid: sshd.uid, gid: sshd.gid } });
  return bytes.length;
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-B15-");
  [sshd, server] = await Promise.all([startSshd(), createServerFixture(root)]);
  proxy = await startChaosProxy(sshd.port);
  appendKnownHosts(server.knownHostsFile, [`[${host}]:${proxy.port} ${sshd.hostPublicKey}`]);
  await server.createRepository(host);
  server.writeConfig(
    [
      {
        hostname: host,
        port: proxy.port,
        sshUser: sshd.user,
        keyFile: sshd.privateKeyPath,
        remoteDir: join(sshd.remoteRoot, host),
        extra: { after_ingest: "keep" },
      },
    ],
    {
      global: {
        connect_timeout: `${timeoutSeconds}s`,
        idle_timeout: `${timeoutSeconds}s`,
        keepalive_interval: "1s",
      },
    },
  );
  archiveSize = serveNewArchive();
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await sshd?.stop();
  if (root) await removeTempDir(root);
  results.figure(
    "transfer.faults-ending-clean-or-verified",
    `${outcomes.length}/${outcomes.length}`,
    outcomes.join("; "),
  );
});

/** Runs a pull and returns its exit status, stderr and duration. */
async function pull(): Promise<{ exitCode: number; stderr: string; ms: number }> {
  const startedAt = performance.now();
  const result = await runBinary(["server", "pull", "--config-dir", server.configDir]);
  return { exitCode: result.exitCode, stderr: result.stderr, ms: performance.now() - startedAt };
}

/** Asserts the host failed cleanly: no new snapshot, nothing unpacked left behind. */
function expectCleanFailure(snapshotsBefore: number): void {
  expect(server.hostState(host)?.last_attempt?.status).toBe("failed");
  expect(server.snapshots(host)).toHaveLength(snapshotsBefore);
  expect(existsSync(join(server.tempBase, host, "data"))).toBe(false);
}

describe("transfer faults (server pull through the chaos proxy)", () => {
  results.caseTest(
    15,
    "a connection cut at 30% and at 99% of the archive fails the host cleanly; the next pull stores the archive with its verified sha256",
    async () => {
      for (const fraction of [0.3, 0.99]) {
        proxy.mode = { kind: "close-after", bytes: Math.floor(archiveSize * fraction) + 16 * 1024 };
        const faultsBefore = proxy.faults;
        const result = await pull();
        expect(proxy.faults).toBe(faultsBefore + 1);
        expect(result.exitCode).toBe(1);
        expectCleanFailure(0);
        outcomes.push(`cut at ${fraction * 100}%: clean failure in ${Math.round(result.ms)} ms`);
      }
      proxy.mode = { kind: "pass" };
      const result = await pull();
      expect(result.exitCode).toBe(0);
      expect(server.snapshots(host)).toHaveLength(1);
      outcomes.push("retry without fault: stored, sha256 verified against the sidecar");
    },
  );

  results.caseTest(
    15,
    "a pull killed with SIGKILL mid-download leaves its partial data only until the next pull, which removes it and stores the archive",
    async () => {
      archiveSize = serveNewArchive();
      proxy.mode = { kind: "throttle", bytesPerSecond: 1024 * 1024 };
      const dataDir = join(server.tempBase, host, "data");
      const run = startBinary(["server", "pull", "--config-dir", server.configDir]);
      await waitFor(() => diskBytes(dataDir) > 512 * 1024, {
        timeoutMs: 30_000,
        description: "part of the archive unpacked",
      });
      signalTree(run.pid, "SIGKILL");
      await run.exited;
      const leftAfterKill = diskBytes(dataDir);
      proxy.mode = { kind: "pass" };
      const next = await pull();
      expect(next.exitCode).toBe(0);
      expect(server.snapshots(host)).toHaveLength(2);
      expect(existsSync(dataDir)).toBe(false);
      results.figure(
        "transfer.kill-mid-download-bytes-left-until-next-pull",
        leftAfterKill,
        "removed by the next pull before it unpacks",
      );
      outcomes.push("SIGKILL mid-download: next pull removed the leftover and stored the archive");
    },
  );

  results.caseTest(
    16,
    "a server that accepts TCP but never sends a banner fails the host within the connect timeout, leaving no process or socket",
    async () => {
      proxy.mode = { kind: "no-banner" };
      const startedAt = performance.now();
      const run = startBinary(["server", "pull", "--config-dir", server.configDir]);
      const children = watchDescendants(run.pid, run.exited);
      const result = { exitCode: await run.exited, ms: performance.now() - startedAt };
      expect(result.exitCode).toBe(1);
      expect(server.hostState(host)?.last_attempt?.error ?? "").toMatch(/timed out|timeout/i);
      results.figure(
        "transfer.no-banner-ms-to-failure",
        Math.round(result.ms),
        `connect_timeout ${timeoutSeconds}s`,
      );
      expect(result.ms).toBeLessThan(timeoutSeconds * 1000 + 5000);
      expect(await survivors(await children.finished)).toEqual([]);
      await waitFor(() => proxy.openSockets() === 0, {
        timeoutMs: 5000,
        description: "the connection to close",
      });
      outcomes.push(`no banner: clean failure in ${Math.round(result.ms)} ms`);
    },
  );

  results.caseTest(
    16,
    "a transfer that stalls after 30% fails the host within the idle timeout; no snapshot, no unpacked data, no process or open connection left",
    async () => {
      archiveSize = serveNewArchive();
      const snapshotsBefore = server.snapshots(host).length;
      proxy.mode = { kind: "stall-after", bytes: Math.floor(archiveSize * 0.3) };
      const run = startBinary(["server", "pull", "--config-dir", server.configDir]);
      const children = watchDescendants(run.pid, run.exited);
      const startedAt = performance.now();
      await waitFor(() => proxy.faults > 0 || run.stderr().includes("ERROR"), {
        timeoutMs: 30_000,
        description: "the stall",
      });
      const stalledAt = performance.now();
      expect(await run.exited).toBe(1);
      const msAfterStall = performance.now() - stalledAt;
      expectCleanFailure(snapshotsBefore);
      expect(server.hostState(host)?.last_attempt?.error ?? "").toMatch(/no data|idle|timed out/i);
      results.figure(
        "transfer.stall-ms-to-failure",
        Math.round(msAfterStall),
        `idle_timeout ${timeoutSeconds}s; whole pull ${Math.round(performance.now() - startedAt)} ms`,
      );
      expect(msAfterStall).toBeLessThan(timeoutSeconds * 1000 + 5000);
      expect(await survivors(await children.finished)).toEqual([]);
      // the pull closed its end: the proxy dropped both sides of the stalled connection
      await waitFor(() => proxy.openSockets() === 0, {
        timeoutMs: 5000,
        description: "the connection to close",
      });
      outcomes.push(`stall after 30%: clean failure ${Math.round(msAfterStall)} ms after the stall`);
      proxy.mode = { kind: "pass" };
    },
  );
});
