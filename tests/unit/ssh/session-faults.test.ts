// SftpSession when things go wrong: a port that never sends a banner, a server that stalls or
// vanishes mid-download, a run that is aborted, and (with ssh2's own Server, whose authentication
// handler the test can watch) proof that a refused host key never reaches user authentication.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Server } from "ssh2";
import { BackupError } from "../../../mod/lib/errors.ts";
import { Logger } from "../../../mod/lib/log.ts";
import { SftpSession, type SftpSessionOptions } from "../../../mod/ssh/session.ts";
import { runCommand } from "../../harness/process.ts";
import { type SshdHandle, startSshd } from "../../harness/sshd.ts";
import { makeTempDir, removeTempDir } from "../../harness/tmp.ts";
import { type FaultProxy, startFaultProxy, startSilentServer, writeKnownHosts } from "./fixtures.ts";

const logger = new Logger("test:ssh");
const archiveName = "web01-20261126_170000.tar.gz";
let dir: string;
let sshd: SshdHandle;
let proxy: FaultProxy;

beforeAll(async () => {
  dir = await makeTempDir("bkpctl-ssh-faults-");
  sshd = await startSshd();
  await writeFile(join(sshd.root, archiveName), randomBytes(64 * 1024 * 1024));
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await sshd?.stop();
  await removeTempDir(dir);
}, 30_000);

/** Connects to the harness sshd through a fresh fault proxy, verifying the host under its own name. */
async function connectThroughProxy(overrides: Partial<SftpSessionOptions> = {}): Promise<SftpSession> {
  await proxy?.close();
  proxy = await startFaultProxy(sshd.port);
  const knownHostsFile = await writeKnownHosts(dir, [
    `[backup-client.test]:${proxy.port} ${sshd.hostPublicKey}`,
  ]);
  return await SftpSession.connect({
    host: "backup-client.test",
    address: "127.0.0.1",
    port: proxy.port,
    username: sshd.user,
    privateKeyPath: sshd.privateKeyPath,
    knownHostsFile,
    readyTimeoutMs: 10_000,
    keepaliveIntervalMs: 60_000,
    idleTimeoutMs: 1000,
    logger,
    ...overrides,
  });
}

/** Resolves with the error a promise rejects with, and how long that took from `since`. */
async function failure(
  promise: Promise<unknown>,
  since = performance.now(),
): Promise<{ error: BackupError; ms: number }> {
  const error = await promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BackupError);
  return { error: error as BackupError, ms: performance.now() - since };
}

/** Consumes a stream, calling onFirstData once when the first chunk arrives. */
function drain(stream: NodeJS.ReadableStream, onFirstData: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let isFirst = true;
    stream.on("data", () => {
      if (isFirst) onFirstData();
      isFirst = false;
    });
    stream.on("end", resolve);
    stream.on("error", reject);
  });
}

describe("timeouts", () => {
  test("a port that accepts TCP but sends no banner hits the handshake timeout", async () => {
    const silent = await startSilentServer();
    try {
      const knownHostsFile = await writeKnownHosts(dir, [`[127.0.0.1]:${silent.port} ${sshd.hostPublicKey}`]);
      const { error, ms } = await failure(
        SftpSession.connect({
          host: "127.0.0.1",
          port: silent.port,
          username: sshd.user,
          privateKeyPath: sshd.privateKeyPath,
          knownHostsFile,
          readyTimeoutMs: 800,
          logger,
        }),
      );
      expect(error.message).toBe(
        `Cannot connect to "127.0.0.1:${silent.port}": no SSH handshake within the handshake timeout`,
      );
      expect(error.hint).toContain("sshd does not answer");
      expect(ms).toBeGreaterThanOrEqual(750);
      expect(ms).toBeLessThan(2500);
    } finally {
      await silent.close();
    }
  });

  test("a server that stalls mid-download fails the stream within the idle timeout", async () => {
    const session = await connectThroughProxy({ idleTimeoutMs: 1000 });
    let stalledAt = 0;
    const stream = session.createReadStream(`${sshd.remoteRoot}/${archiveName}`);
    const { error } = await failure(
      drain(stream, () => {
        stalledAt = performance.now();
        proxy.stall();
      }),
    );
    const ms = performance.now() - stalledAt;
    expect(error.message).toBe(
      `Reading "${sshd.remoteRoot}/${archiveName}" on "backup-client.test:${proxy.port} (via 127.0.0.1)" stalled: no data for 1 s`,
    );
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(ms).toBeLessThan(2500);
    const closing = performance.now();
    await session.close();
    expect(performance.now() - closing).toBeLessThan(2500);
  });

  test("keepalives notice a silent server and fail a pending request", async () => {
    const session = await connectThroughProxy({ keepaliveIntervalMs: 300, keepaliveCountMax: 2 });
    proxy.stall();
    const { error, ms } = await failure(session.stat(`${sshd.remoteRoot}/${archiveName}`));
    expect(error.message).toContain(`Lost connection to "backup-client.test:${proxy.port} (via 127.0.0.1)"`);
    expect(ms).toBeLessThan(3000);
    expect(session.isClosed).toBe(true);
    await session.close();
  });
});

describe("a dropped connection", () => {
  test("fails the running download, the pending request and every later one", async () => {
    const session = await connectThroughProxy();
    const stream = session.createReadStream(`${sshd.remoteRoot}/${archiveName}`);
    let pendingStat: Promise<unknown> | undefined;
    const download = failure(
      drain(stream, () => {
        pendingStat = session.stat(`${sshd.remoteRoot}/${archiveName}`).catch((error: unknown) => error);
        proxy.cut();
      }),
    );
    const { error } = await download;
    expect(error.message).toContain("Lost connection to");
    expect(String(await pendingStat)).toContain("Lost connection to");
    await expect(session.list(sshd.remoteRoot)).rejects.toThrow("Lost connection to");
    await expect(session.unlink(`${sshd.remoteRoot}/${archiveName}`)).rejects.toThrow("Lost connection to");
    await session.close();
  });
});

describe("an abort signal", () => {
  test("refuses to start when already aborted", async () => {
    const controller = new AbortController();
    controller.abort(new Error("interrupted by SIGTERM"));
    const { error } = await failure(connectThroughProxy({ signal: controller.signal }));
    expect(error.message).toContain("interrupted by SIGTERM");
  });

  test("stops a handshake that hangs", async () => {
    const silent = await startSilentServer();
    const controller = new AbortController();
    try {
      const knownHostsFile = await writeKnownHosts(dir, [`[127.0.0.1]:${silent.port} ${sshd.hostPublicKey}`]);
      const connecting = SftpSession.connect({
        host: "127.0.0.1",
        port: silent.port,
        username: sshd.user,
        privateKeyPath: sshd.privateKeyPath,
        knownHostsFile,
        readyTimeoutMs: 30_000,
        logger,
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(new Error("interrupted by SIGTERM")), 200);
      const { error, ms } = await failure(connecting);
      expect(error.message).toBe(`Stopped talking to "127.0.0.1:${silent.port}": interrupted by SIGTERM`);
      expect(ms).toBeLessThan(1500);
    } finally {
      await silent.close();
    }
  });

  test("fails a stalled download and a pending request at once, and closes the session", async () => {
    const controller = new AbortController();
    const session = await connectThroughProxy({ signal: controller.signal, idleTimeoutMs: 60_000 });
    const stream = session.createReadStream(`${sshd.remoteRoot}/${archiveName}`);
    let pendingStat: Promise<unknown> | undefined;
    const since = performance.now();
    const { error, ms } = await failure(
      drain(stream, () => {
        proxy.stall();
        pendingStat = session.stat(sshd.remoteRoot).catch((caught: unknown) => caught);
        setTimeout(() => controller.abort(new Error("interrupted by SIGINT")), 100);
      }),
      since,
    );
    expect(error.message).toContain("interrupted by SIGINT");
    expect(String(await pendingStat)).toContain("interrupted by SIGINT");
    expect(ms).toBeLessThan(3000);
    expect(session.isClosed).toBe(true);
    await session.close();
  });
});

describe("against ssh2's own Server", () => {
  let server: Server;
  let port = 0;
  let hostKeyLine = "";
  let authentications = 0;

  beforeAll(async () => {
    const hostKeyPath = join(dir, "ssh2_server_host_key");
    await runCommand(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", hostKeyPath]);
    hostKeyLine = (await readFile(`${hostKeyPath}.pub`, "utf8")).trim();
    server = new Server({ hostKeys: [await readFile(hostKeyPath)] }, (connection) => {
      connection.on("error", () => undefined);
      connection.on("authentication", (context) => {
        authentications++;
        context.accept();
      });
      // a session is accepted, but no sftp subsystem is ever granted
      connection.on("session", (accept) => {
        const session = accept();
        session.on("sftp", (_accept, reject) => reject());
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => await new Promise<void>((resolve) => server.close(() => resolve())));

  /** Connects to the ssh2 Server with a known_hosts file of these lines. */
  function connect(lines: string[]) {
    return (async () =>
      await SftpSession.connect({
        host: "127.0.0.1",
        port,
        username: "backup",
        privateKeyPath: sshd.privateKeyPath,
        knownHostsFile: await writeKnownHosts(dir, lines),
        readyTimeoutMs: 5000,
        logger,
      }))();
  }

  test("a refused host key never reaches the server's authentication handler", async () => {
    authentications = 0;
    const { error } = await failure(connect([`[127.0.0.1]:${port} ${sshd.hostPublicKey}`]));
    expect(error.message).toContain("host key mismatch");
    const unknown = await failure(connect([`somewhere-else ${hostKeyLine}`]));
    expect(unknown.error.message).toContain("host key unknown");
    expect(authentications).toBe(0);
  });

  test("a trusted key proceeds to authentication, and a refused sftp subsystem is a clear error", async () => {
    authentications = 0;
    const { error } = await failure(connect([`[127.0.0.1]:${port} ${hostKeyLine}`]));
    expect(authentications).toBeGreaterThan(0);
    expect(error.message).toContain(`Cannot open SFTP on "127.0.0.1:${port}"`);
    expect(error.hint).toContain("sftp subsystem");
  });
});
