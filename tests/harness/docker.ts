// A private dockerd for the `docker` task tests: its own data root, exec root, pid file and socket in a
// temp dir, and a busybox image imported from Debian's busybox-static (no registry is reachable).
// Isolation from other daemons on the machine (a concurrent test run, a real dockerd): no default bridge
// (`docker0` would be shared), no iptables rules (the chains are global), a private daemon.json.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { copyFile, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { type CommandResult, type RunOptions, runCommand, ServiceProcess, waitUntil } from "./process.ts";
import { makeTempDir, removeTempDir } from "./tmp.ts";

/** A compose service for `writeComposeProject`; `image` defaults to busybox:latest, `init` to true. */
export interface ComposeService {
  image?: string;
  command?: string[];
  /** Run tini as PID 1 so `stop` ends `sleep` at once instead of after the 10 s grace period. */
  init?: boolean;
  environment?: Record<string, string>;
  volumes?: string[];
  labels?: Record<string, string>;
  depends_on?: string[];
  [key: string]: unknown;
}

/** A running private dockerd. */
export interface DockerHandle {
  /** Path of the daemon's API socket. */
  socketPath: string;
  /** Environment that points docker and docker-compose at this daemon. */
  env: { DOCKER_HOST: string };
  /** ["docker", "compose"] when the v2 plugin works, else ["docker-compose"]. */
  composeCommand: string[];
  /** Storage driver in use (overlay2, or vfs where overlay mounts are not allowed). */
  storageDriver: string;
  /** Milliseconds from the call to a daemon with the busybox image. */
  startupMs: number;
  /** Runs the docker CLI against this daemon. Throws on a non-zero exit unless `allowFailure`. */
  docker(args: string[], options?: RunOptions): Promise<CommandResult>;
  /** Runs the compose command against this daemon in `options.cwd`. */
  compose(args: string[], options?: RunOptions): Promise<CommandResult>;
  /** Writes `<dir>/docker-compose.yml` for `services` and returns its path. */
  writeComposeProject(dir: string, services: Record<string, ComposeService>): Promise<string>;
  /** Removes all containers, stops the daemon, unmounts and deletes everything; idempotent. */
  stop(): Promise<void>;
}

/** Options of `startDocker`. */
export interface DockerOptions {
  /** Storage drivers to try in order; default overlay2, then vfs (slow, but works without overlay mounts). */
  storageDrivers?: string[];
}

/** Starts dockerd and imports busybox:latest. Throws when no storage driver gives a working daemon. */
export async function startDocker(options: DockerOptions = {}): Promise<DockerHandle> {
  const startedAt = performance.now();
  const dir = await makeTempDir("bkpctl-docker-");
  let service: ServiceProcess | undefined;
  try {
    const socketPath = join(dir, "docker.sock");
    const env = { DOCKER_HOST: `unix://${socketPath}` };
    const configFile = join(dir, "daemon.json");
    await writeFile(configFile, "{}\n", { mode: 0o600 });
    // The image tarball and the compose probe need no daemon: prepare them while it starts.
    const tarballReady = buildBusyboxTarball(dir);
    const composeReady = findComposeCommand(env);
    tarballReady.catch(() => {});
    composeReady.catch(() => {});
    let storageDriver = "";
    const failures: string[] = [];
    for (const driver of options.storageDrivers ?? ["overlay2", "vfs"]) {
      service = ServiceProcess.start(daemonArgv(dir, configFile, driver), {
        name: `dockerd (${driver})`,
        logPath: join(dir, `dockerd-${driver}.log`),
      });
      const started = service;
      try {
        await waitUntil(() => isDaemonUp(socketPath), {
          description: `dockerd to answer on ${socketPath}`,
          timeoutMs: 60_000,
          intervalMs: 50,
          service,
        });
        storageDriver = driver;
        break;
      } catch (error) {
        failures.push((error as Error).message);
        await started.stop();
        await unmountUnder(dir);
      }
    }
    if (!storageDriver) throw new Error(`Cannot start dockerd:\n${failures.join("\n")}`);
    const running = service as ServiceProcess;

    const docker = (args: string[], options: RunOptions = {}) =>
      runCommand(["docker", ...args], { timeoutMs: 120_000, ...options, env: { ...options.env, ...env } });
    await docker(["import", "--change", 'CMD ["sh"]', await tarballReady, "busybox:latest"]);
    const composeCommand = await composeReady;

    let stopping: Promise<void> | undefined;
    return {
      socketPath,
      env,
      composeCommand,
      storageDriver,
      startupMs: Math.round(performance.now() - startedAt),
      docker,
      compose: (args, options = {}) =>
        runCommand([...composeCommand, ...args], {
          timeoutMs: 120_000,
          ...options,
          env: { ...options.env, ...env },
        }),
      writeComposeProject,
      stop() {
        stopping ??= stopDaemon(dir, running, docker);
        return stopping;
      },
    };
  } catch (error) {
    await service?.stop();
    await unmountUnder(dir);
    await removeTempDir(dir);
    throw error;
  }
}

/** The dockerd command line for one storage driver. */
function daemonArgv(dir: string, configFile: string, storageDriver: string): string[] {
  return [
    "dockerd",
    `--config-file=${configFile}`,
    `--data-root=${join(dir, "data")}`,
    `--exec-root=${join(dir, "exec")}`,
    `--pidfile=${join(dir, "docker.pid")}`,
    `--host=unix://${join(dir, "docker.sock")}`,
    `--storage-driver=${storageDriver}`,
    "--bridge=none",
    "--iptables=false",
    "--ip-masq=false",
    "--log-level=warn",
  ];
}

/** Returns true when the daemon answers /_ping on its socket. */
async function isDaemonUp(socketPath: string): Promise<boolean> {
  // Bun's fetch on a socket path that does not exist yet waits for the whole timeout instead of failing.
  if (!existsSync(socketPath)) return false;
  const response = await fetch("http://docker/_ping", {
    unix: socketPath,
    signal: AbortSignal.timeout(2_000),
  });
  return response.ok;
}

/**
 * Builds the root filesystem of busybox:latest from Debian's static busybox as a tarball — the binary, one
 * symlink per applet, and the few directories and files a container expects — and returns its path.
 * Throws when /bin/busybox is dynamically linked (the `busybox` package instead of `busybox-static`),
 * which would not run inside the image.
 */
async function buildBusyboxTarball(dir: string): Promise<string> {
  const busybox = "/bin/busybox";
  if (isDynamicElf(await readFile(busybox))) {
    throw new Error(
      `Cannot build the busybox image: "${busybox}" is dynamically linked (install busybox-static)`,
    );
  }
  const rootfs = join(dir, "busybox-rootfs");
  for (const path of [
    "bin",
    "sbin",
    "usr/bin",
    "usr/sbin",
    "etc",
    "proc",
    "sys",
    "dev",
    "root",
    "tmp",
    "var/tmp",
  ]) {
    await mkdir(join(rootfs, path), { recursive: true, mode: path.endsWith("tmp") ? 0o1777 : 0o755 });
  }
  await copyFile(busybox, join(rootfs, "bin/busybox"));
  const { stdout } = await runCommand([busybox, "--list-full"]);
  for (const applet of stdout.split("\n").filter((line) => line && line !== "bin/busybox")) {
    await mkdir(dirname(join(rootfs, applet)), { recursive: true });
    await symlink("/bin/busybox", join(rootfs, applet)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
  }
  await writeFile(
    join(rootfs, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
  );
  await writeFile(join(rootfs, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  const tarball = join(dir, "busybox.tar");
  await runCommand([
    "tar",
    "--create",
    `--file=${tarball}`,
    "--numeric-owner",
    "--owner=0",
    "--group=0",
    "-C",
    rootfs,
    ".",
  ]);
  return tarball;
}

/** Returns true when an ELF executable requests a program interpreter (PT_INTERP), i.e. is not static. */
function isDynamicElf(elf: Buffer): boolean {
  const programHeaderOffset = Number(elf.readBigUInt64LE(0x20));
  const entrySize = elf.readUInt16LE(0x36);
  const entryCount = elf.readUInt16LE(0x38);
  for (let index = 0; index < entryCount; index++) {
    if (elf.readUInt32LE(programHeaderOffset + index * entrySize) === 3) return true;
  }
  return false;
}

/** Returns the compose command that works here. Throws when there is none. */
async function findComposeCommand(env: Record<string, string>): Promise<string[]> {
  for (const command of [["docker", "compose"], ["docker-compose"]]) {
    const result = await runCommand([...command, "version"], { env, allowFailure: true }).catch(
      () => undefined,
    );
    if (result?.exitCode === 0) return command;
  }
  throw new Error("Neither `docker compose` nor `docker-compose` works (run scripts/install-deps)");
}

/** Writes `<dir>/docker-compose.yml` (format 3.8, which docker-compose v1 needs for `init`). */
export async function writeComposeProject(
  dir: string,
  services: Record<string, ComposeService>,
): Promise<string> {
  const document = {
    version: "3.8",
    services: Object.fromEntries(
      Object.entries(services).map(([name, service]) => [
        name,
        { image: "busybox:latest", init: true, ...service },
      ]),
    ),
  };
  await mkdir(dir, { recursive: true });
  const path = join(dir, "docker-compose.yml");
  await writeFile(path, stringify(document));
  return path;
}

/**
 * Removes containers and networks while the daemon can still do it cleanly (its container shims would
 * otherwise outlive it), stops dockerd, ends anything still running from the temp dir, unmounts what is
 * mounted under it and deletes it.
 */
async function stopDaemon(
  dir: string,
  service: ServiceProcess,
  docker: (args: string[], options?: RunOptions) => Promise<CommandResult>,
): Promise<void> {
  const problems: string[] = [];
  let bridges: string[] = [];
  if (service.isRunning) {
    try {
      const containers = (await docker(["ps", "--all", "--quiet"], { timeoutMs: 30_000 })).stdout.split(
        /\s+/,
      );
      const ids = containers.filter(Boolean);
      if (ids.length > 0) await docker(["rm", "--force", "--volumes", ...ids], { timeoutMs: 60_000 });
      const networks = await docker(["network", "ls", "--quiet", "--no-trunc", "--filter", "driver=bridge"]);
      bridges = networks.stdout
        .split(/\s+/)
        .filter(Boolean)
        .map((id) => `br-${id.slice(0, 12)}`);
      await docker(["network", "prune", "--force"], { timeoutMs: 30_000 });
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  // dockerd stops its containerd itself; signalling the whole group would race that shutdown.
  await service.stop({ timeoutMs: 20_000, leaderOnly: true });
  // containerd and its shims run from our exec root; whatever survived dockerd is ended by pid.
  for (const pid of processesMentioning(dir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  for (const bridge of bridges) {
    await runCommand(["ip", "link", "delete", bridge], { allowFailure: true });
  }
  await unmountUnder(dir);
  await removeTempDir(dir);
  if (problems.length > 0) throw new Error(`dockerd cleanup was incomplete:\n${problems.join("\n")}`);
}

/** Pids of processes whose command line mentions `dir` (our containerd and shims), excluding this one. */
function processesMentioning(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir)) pids.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** Unmounts every mount point under `dir`, deepest first (overlay layers, netns bind mounts). */
async function unmountUnder(dir: string): Promise<void> {
  const mountInfo = await readFile("/proc/self/mountinfo", "utf8");
  const mountPoints = mountInfo
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .map((field) =>
      field.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))),
    )
    .filter((mountPoint) => mountPoint.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of mountPoints) {
    await runCommand(["umount", "--lazy", mountPoint], { allowFailure: true });
  }
}
