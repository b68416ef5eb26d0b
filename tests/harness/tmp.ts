// Scratch space for the harness: private temp dirs, temp dirs that sshd accepts for StrictModes and
// ChrootDirectory, and free loopback ports.
import { chmod, lstat, mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

/**
 * Parent of the temp dirs sshd must accept. Every component of its path has to be root-owned and not
 * writable by group or others (sshd's StrictModes and ChrootDirectory rules), which /tmp (1777) is not.
 */
export function secureTempBase(): string {
  return process.env.BKPCTL_TEST_SECURE_TMP ?? "/var/lib/bkpctl-test";
}

/** Creates a fresh temp dir with mode 0700 under the system temp dir and returns its path. */
export async function makeTempDir(prefix = "bkpctl-"): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  await chmod(path, 0o700);
  return path;
}

/**
 * Creates a fresh temp dir (mode 0700, root-owned) under `secureTempBase`, so every ancestor passes
 * sshd's ownership checks. Throws when an ancestor is not root-owned or is group/other-writable.
 */
export async function makeSecureTempDir(prefix = "bkpctl-"): Promise<string> {
  const base = secureTempBase();
  await mkdir(base, { recursive: true, mode: 0o755 });
  await assertRootOwnedPath(base);
  const path = await mkdtemp(join(base, prefix));
  await chmod(path, 0o700);
  return path;
}

/** Removes a temp dir made by this module with everything in it; a missing dir is fine. */
export async function removeTempDir(path: string): Promise<void> {
  const absolute = resolve(path);
  const isOurs = [tmpdir(), secureTempBase()].some((base) => absolute.startsWith(`${resolve(base)}/`));
  if (!isOurs) throw new Error(`Refusing to remove "${absolute}": not inside a harness temp base`);
  await rm(absolute, { recursive: true, force: true, maxRetries: 3 });
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolvePort(port) : reject(new Error("No port was assigned"))));
    });
  });
}

/**
 * Calls `start` with a free port, and again with another one (up to `attempts` times) when it fails
 * because someone else bound the port in between ("Address already in use" in the error).
 */
export async function withFreePort<T>(start: (port: number) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (error) {
      const isClash = error instanceof Error && error.message.includes("Address already in use");
      if (!isClash || attempt >= attempts) throw error;
    }
  }
}

/** Throws when `path` or any ancestor is not a root-owned directory without group/other write bits. */
async function assertRootOwnedPath(path: string): Promise<void> {
  let current = resolve(path);
  for (;;) {
    const info = await stat(current);
    const linkInfo = await lstat(current);
    if (linkInfo.isSymbolicLink() || info.uid !== 0 || (info.mode & 0o022) !== 0) {
      const mode = (info.mode & 0o7777).toString(8).padStart(4, "0");
      throw new Error(
        `Cannot use "${path}" for sshd temp dirs: "${current}" has owner uid ${info.uid} and mode ${mode} ` +
          "(sshd needs every component root-owned and not group/other-writable; set BKPCTL_TEST_SECURE_TMP)",
      );
    }
    if (current === "/") return;
    current = dirname(current);
  }
}
