// Catalogue #17, #18 and #19, what `server pull` may fetch: checksums and sidecars, a client that
// writes (or prunes) while the server reads, and the client lock — all against a real loopback sshd
// and real restic, through the compiled binary.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, chownSync, mkdirSync, rmdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { runBinary } from "../e2e/binary.ts";
import { makeTempDir, removeTempDir, type SshdHandle, startSshd } from "../harness/index.ts";
import { type ChaosProxy, startChaosProxy } from "./support/chaos-proxy.ts";
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

const results = openResults("B-selection");

let root: string;
let sshd: SshdHandle;
let server: ServerFixture;
let proxy: ChaosProxy;

/** A host served from its own subdir of the sshd's remote dir (through the proxy when asked). */
function hostSpec(hostname: string, options: { viaProxy?: boolean } = {}): HostSpec {
  return {
    hostname,
    port: options.viaProxy ? proxy.port : sshd.port,
    sshUser: sshd.user,
    keyFile: sshd.privateKeyPath,
    remoteDir: join(sshd.remoteRoot, hostname),
    extra: { after_ingest: "keep" },
  };
}

/** A small valid archive of host, or a large one of incompressible data. */
function archiveOf(host: string, dataBytes = 1024): Buffer {
  return buildTarGz([manifestMember(host), { name: "./data.bin", data: randomBytes(dataBytes) }]);
}

/** Places an archive minutesAgo old; returns its path. */
function serve(
  host: string,
  bytes: Uint8Array,
  minutesAgo: number,
  options: { sidecar?: string | false; suffix?: string } = {},
): string {
  const name = `${host}-${archiveTimestamp(new Date(Date.now() - minutesAgo * 60_000))}.tar.gz${options.suffix ?? ""}`;
  return placeArchive(join(sshd.root, host), name, bytes, {
    owner: { uid: sshd.uid, gid: sshd.gid },
    sidecar: options.sidecar,
  });
}

/** Trusts the sshd (and the proxy in front of it) for these names. */
function trust(hosts: string[]): void {
  appendKnownHosts(server.knownHostsFile, [
    `${hosts.flatMap((host) => [`[${host}]:${sshd.port}`, `[${host}]:${proxy.port}`]).join(",")} ${sshd.hostPublicKey}`,
  ]);
}

/** Runs server pull for the hosts (each --host). */
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
  root = await makeTempDir("bkpctl-rel-B17-");
  [sshd, server] = await Promise.all([startSshd(), createServerFixture(root)]);
  proxy = await startChaosProxy(sshd.port);
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await sshd?.stop();
  if (root) await removeTempDir(root);
});

describe("what server pull may fetch", () => {
  results.caseTest(
    17,
    "an archive without a sidecar is ignored with a warning, one with a malformed sidecar or a sidecar naming another file fails the host, an archive edited after its sidecar is refused; none becomes a snapshot",
    async () => {
      const hosts = ["s17-no-sidecar", "s17-malformed", "s17-other-name", "s17-edited"];
      trust(hosts);
      await Promise.all(hosts.map((host) => server.createRepository(host)));
      server.writeConfig(hosts.map((host) => hostSpec(host)));
      serve("s17-no-sidecar", archiveOf("s17-no-sidecar"), 5, { sidecar: false });
      serve("s17-malformed", archiveOf("s17-malformed"), 5, { sidecar: "this is not a checksum\n" });
      serve("s17-other-name", archiveOf("s17-other-name"), 5, {
        sidecar: `${"a".repeat(64)}  s17-other-name-20200101_000000.tar.gz\n`,
      });
      appendFileSync(serve("s17-edited", archiveOf("s17-edited"), 5), "tampered");

      const result = await pull(hosts);
      expect(result.exitCode).toBe(1);
      const attempt = (host: string) => server.hostState(host)?.last_attempt;
      expect(attempt("s17-no-sidecar")?.error).toContain("No complete archive");
      expect(attempt("s17-no-sidecar")?.warnings?.join("\n")).toContain("no .sha256 sidecar");
      expect(attempt("s17-malformed")?.error).toMatch(/malformed/);
      expect(attempt("s17-other-name")?.error).toMatch(/malformed or names another file/);
      expect(attempt("s17-edited")?.error).toMatch(/bytes arrived|sha256/);
      for (const host of hosts) expect(server.snapshots(host)).toHaveLength(0);
      results.figure(
        "selection.sidecar-faults-refused",
        `${hosts.length}/${hosts.length}`,
        "missing (ignored with a warning), malformed, naming another file, archive edited after the sidecar",
      );
    },
  );

  results.caseTest(
    18,
    "only final names are fetched: an archive that exists only as .partial is never taken, an older complete one is, and an archive unlinked by the client mid-download is still read to its end from the open handle and verified",
    async () => {
      const hosts = ["s18-partial-only", "s18-older-complete", "s18-unlinked"];
      trust(hosts);
      await Promise.all(hosts.map((host) => server.createRepository(host)));
      server.writeConfig([
        hostSpec("s18-partial-only"),
        hostSpec("s18-older-complete"),
        hostSpec("s18-unlinked", { viaProxy: true }),
      ]);
      serve("s18-partial-only", archiveOf("s18-partial-only"), 1, { suffix: ".partial", sidecar: false });
      serve("s18-older-complete", archiveOf("s18-older-complete"), 60);
      serve("s18-older-complete", archiveOf("s18-older-complete"), 1, { suffix: ".partial", sidecar: false });
      const unlinked = serve("s18-unlinked", archiveOf("s18-unlinked", 4 * 1024 * 1024), 1);

      const quick = await pull(["s18-partial-only", "s18-older-complete"]);
      expect(server.hostState("s18-partial-only")?.last_attempt?.error).toContain("No complete archive");
      expect(server.snapshots("s18-partial-only")).toHaveLength(0);
      expect(server.snapshots("s18-older-complete")).toHaveLength(1);
      expect(quick.exitCode).toBe(3);

      // the client prunes the archive while it is being read
      proxy.mode = { kind: "throttle", bytesPerSecond: 2 * 1024 * 1024 };
      const bytesBefore = proxy.bytesToClient;
      const run = startBinary(["server", "pull", "--config-dir", server.configDir, "--host", "s18-unlinked"]);
      await waitFor(() => proxy.bytesToClient - bytesBefore > 1024 * 1024, {
        timeoutMs: 30_000,
        description: "a quarter of the download",
      });
      unlinkSync(unlinked);
      unlinkSync(`${unlinked}.sha256`);
      const exitCode = await run.exited;
      proxy.mode = { kind: "pass" };
      expect(exitCode).toBe(0);
      expect(server.snapshots("s18-unlinked")).toHaveLength(1);
      results.figure(
        "selection.unlinked-mid-download",
        "read to the end and verified",
        "OpenSSH's sftp-server keeps the file open",
      );
    },
  );

  results.caseTest(
    19,
    "a lock present briefly is waited for, then the archive is stored; a lock whose stat fails with EACCES counts as locked (the host is skipped, nothing fetched), never as unlocked",
    async () => {
      const hosts = ["s19-brief", "s19-eacces"];
      trust(hosts);
      await Promise.all(hosts.map((host) => server.createRepository(host)));
      server.writeConfig(
        hosts.map((host) => hostSpec(host)),
        { global: { lock_check_retries: 3, lock_check_delay: "1s" } },
      );
      serve("s19-brief", archiveOf("s19-brief"), 5);
      serve("s19-eacces", archiveOf("s19-eacces"), 5);
      const lock = join(sshd.root, "s19-brief", ".backup_archive_in_progress.lock");
      mkdirSync(lock);
      chownSync(lock, sshd.uid, sshd.gid);
      setTimeout(() => rmdirSync(lock), 1500);
      // no search permission on the client dir: the stat of the lock fails with "permission denied"
      const eaccesDir = join(sshd.root, "s19-eacces");
      chmodSync(eaccesDir, 0o600);
      try {
        const result = await pull(hosts);
        expect(result.stderr).toContain("looking again");
        expect(server.hostState("s19-brief")?.last_attempt?.status).toBe("ok");
        expect(server.snapshots("s19-brief")).toHaveLength(1);
        const eacces = server.hostState("s19-eacces")?.last_attempt;
        expect(eacces?.status).toBe("locked");
        expect(eacces?.error).toMatch(/cannot be read/);
        expect(server.snapshots("s19-eacces")).toHaveLength(0);
        expect(result.exitCode).toBe(3);
      } finally {
        chmodSync(eaccesDir, 0o750);
      }
      const after = await pull(["s19-eacces"]);
      expect(after.exitCode).toBe(0);
      expect(server.snapshots("s19-eacces")).toHaveLength(1);
      results.figure(
        "selection.lock-stat-errors-read-as-unlocked",
        0,
        "EACCES on the lock's stat skipped the host",
      );
    },
  );
});
