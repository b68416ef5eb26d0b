// A compose stack of busybox services on the harness's private dockerd, and a fast look at which of
// its services run (the engine API over the daemon's socket: ~5 ms, where `compose ps` takes ~300 ms).

import { join } from "node:path";
import type { DockerHandle } from "../../harness/index.ts";

/** A running compose project. */
export interface ComposeStackFixture {
  project: string;
  composeFile: string;
  services: string[];
  /** The `docker:` task block that addresses this stack. */
  task(extra?: Record<string, unknown>): Record<string, unknown>;
  /** Names of the project's running services, sorted. */
  running(): Promise<string[]>;
  /** `compose up -d` (all services). */
  up(): Promise<void>;
  /** `compose stop` of the given services. */
  stop(services: string[]): Promise<void>;
}

/** Writes a compose project of `sleep` services under root and starts it. */
export async function startComposeStack(
  docker: DockerHandle,
  root: string,
  options: { project: string; services: string[] },
): Promise<ComposeStackFixture> {
  const directory = join(root, options.project);
  const composeFile = await docker.writeComposeProject(
    directory,
    Object.fromEntries(options.services.map((service) => [service, { command: ["sleep", "1000000"] }])),
  );
  const compose = (args: string[]) =>
    docker.compose(["--file", composeFile, "--project-name", options.project, ...args], { cwd: directory });
  const stack: ComposeStackFixture = {
    project: options.project,
    composeFile,
    services: [...options.services].sort(),
    task: (extra = {}) => ({
      compose_file: composeFile,
      project_name: options.project,
      stop_wait_seconds: 5,
      ...extra,
    }),
    running: () => runningServices(docker.socketPath, options.project),
    up: async () => {
      await compose(["up", "-d"]);
    },
    stop: async (services) => {
      await compose(["stop", "--timeout", "2", ...services]);
    },
  };
  await stack.up();
  return stack;
}

/** Returns the sorted service names of a compose project's running containers. */
export async function runningServices(socketPath: string, project: string): Promise<string[]> {
  const filters = encodeURIComponent(
    JSON.stringify({ label: [`com.docker.compose.project=${project}`], status: ["running"] }),
  );
  const response = await fetch(`http://docker/containers/json?filters=${filters}`, {
    unix: socketPath,
    signal: AbortSignal.timeout(10_000),
  });
  const containers = (await response.json()) as { Labels: Record<string, string> }[];
  return containers.map((container) => container.Labels["com.docker.compose.service"] ?? "?").sort();
}
