// Helpers of the packaging tests: the built .debs (scripts/package, or the ones scripts/check built),
// their contents and fields, and throwaway Debian 12 roots unpacked from the cached debootstrap
// tarball (tests/packaging/bookworm-root) to install them into.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";

export const projectDir = path.resolve(import.meta.dir, "../..");

/** The outcome of one command. */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** How run() starts a command. */
export interface RunOptions {
  /** Added to the inherited environment, or the whole environment when shouldInheritEnv is false. */
  env?: Record<string, string>;
  shouldInheritEnv?: boolean;
  cwd?: string;
  input?: string;
}

/** Runs argv to completion (no shell) and returns its exit code and output. */
export async function run(argv: string[], options: RunOptions = {}): Promise<CommandResult> {
  const child = Bun.spawn(argv, {
    cwd: options.cwd ?? projectDir,
    env: options.shouldInheritEnv === false ? { ...options.env } : { ...process.env, ...options.env },
    stdin: options.input === undefined ? "ignore" : new Blob([options.input]),
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

/** Runs argv and returns its stdout. Throws when it exits non-zero, naming the command and its stderr. */
export async function runOk(argv: string[], options: RunOptions = {}): Promise<string> {
  const result = await run(argv, options);
  if (result.exitCode !== 0) {
    const tail = `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-30).join("\n");
    throw new Error(`${JSON.stringify(argv)} exited ${result.exitCode}:\n${tail}`);
  }
  return result.stdout;
}

/** The version the packages carry: debian/changelog's, which must equal package.json's. */
export function changelogVersion(): string {
  const firstLine = readFileSync(path.join(projectDir, "debian/changelog"), "utf8").split("\n")[0] ?? "";
  const match = /^\S+ \(([^)]+)\)/.exec(firstLine);
  if (!match?.[1]) throw new Error(`Cannot read the version from debian/changelog: "${firstLine}"`);
  return match[1];
}

let packagesDirPromise: Promise<string> | undefined;

/**
 * The directory holding the three .debs: $BACKUPCTL_PACKAGES_DIR (scripts/check builds them there
 * first), else dist/packages, which scripts/package builds them into once per test process.
 */
export function packagesDir(): Promise<string> {
  packagesDirPromise ??= (async () => {
    const fromCheck = process.env.BACKUPCTL_PACKAGES_DIR;
    if (fromCheck) return fromCheck;
    await runOk(["scripts/package"]);
    return path.join(projectDir, "dist/packages");
  })();
  return packagesDirPromise;
}

/** The path of a built package's .deb. Throws when it was not built. */
export async function debPath(packageName: string): Promise<string> {
  const directory = await packagesDir();
  const names = existsSync(directory) ? readdirSync(directory) : [];
  const name = names.find((entry) => entry.startsWith(`${packageName}_`) && entry.endsWith(".deb"));
  if (!name) throw new Error(`No ${packageName}_*.deb in "${directory}" (did scripts/package fail?)`);
  return path.join(directory, name);
}

/** A .deb's files as `dpkg-deb -c` lists them, one "mode owner /path" (or "... -> target") each. */
export async function debListing(deb: string): Promise<string[]> {
  const listing = await runOk(["dpkg-deb", "--contents", deb]);
  return listing
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      // drwxr-xr-x root/root 0 2026-11-26 18:00 ./etc/backup/ (the name may hold spaces)
      const match = /^(\S+) (\S+)\s+\d+ \S+ \S+ \.(.*)$/.exec(line);
      if (!match) throw new Error(`Unexpected dpkg-deb --contents line: "${line}"`);
      return `${match[1]} ${match[2]} ${match[3]}`;
    });
}

/** One control field of a .deb ("" when absent). */
export async function debField(deb: string, field: string): Promise<string> {
  return (await runOk(["dpkg-deb", "--field", deb, field])).trim();
}

/** A throwaway copy of the cached Debian 12 root, removed by remove(). */
export interface TestRoot {
  path: string;
  remove(): void;
}

/** Unpacks a fresh Debian 12 root (building the cached tarball first when missing: about 2 min). */
export async function freshRoot(): Promise<TestRoot> {
  const tarball = (await runOk(["tests/packaging/bookworm-root"])).trim();
  // /var/tmp, not /tmp: the root holds device nodes and ~200 MB, and /tmp may be a small tmpfs
  const root = mkdtempSync("/var/tmp/backupctl-root-");
  await runOk(["tar", "--zstd", "--numeric-owner", "--xattrs", "-xf", tarball, "-C", root]);
  return { path: root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * Runs argv inside the root with chroot, with /proc (a Bun executable finds its program through
 * /proc/self/exe) and a private /dev/pts (apt and dpkg log through a pty). The mounts live in a private
 * mount namespace, so they end with the command.
 */
export function inRoot(
  root: string,
  argv: string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<CommandResult> {
  const script =
    'mount -t proc proc "$0/proc" && mount -t devpts -o newinstance,ptmxmode=0666 devpts "$0/dev/pts" && exec chroot "$0" "$@"';
  return run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, root, ...argv], {
    input: options.input,
    // nothing of the test process's environment leaks into the root
    shouldInheritEnv: false,
    env: {
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      DEBIAN_FRONTEND: "noninteractive",
      LC_ALL: "C",
      HOME: "/root",
      ...options.env,
    },
  });
}

/** Like inRoot, but returns stdout and throws when the command exits non-zero. */
export async function inRootOk(root: string, argv: string[], options: Parameters<typeof inRoot>[2] = {}) {
  const result = await inRoot(root, argv, options);
  if (result.exitCode !== 0) {
    const tail = `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-30).join("\n");
    throw new Error(`in the root: ${JSON.stringify(argv)} exited ${result.exitCode}:\n${tail}`);
  }
  return result.stdout;
}

/** `stat` of paths inside the root as "mode owner:group", e.g. "600 root:root". */
export async function statInRoot(root: string, file: string): Promise<string> {
  return (await inRootOk(root, ["stat", "--format=%a %U:%G", file])).trim();
}
