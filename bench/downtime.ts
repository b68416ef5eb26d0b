// Service downtime of a compose stack: a private dockerd runs a busybox service that bind-mounts the
// data set; `backupctl client run` stops it, copies the data and starts it again. The downtime is the
// time between the container's kill and its start as `docker events` reports them, next to the time a
// plain `rsync -a` of the same data takes.

import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type DockerHandle, startDocker } from "../tests/harness/index.ts";
import { type BenchEnvironment, writeConfig } from "./environment.ts";
import { type Measurement, measure } from "./measure.ts";
import type { Recorder } from "./steps.ts";
import { settle } from "./steps.ts";

const dockerHost = "bench-docker";

/** One docker event as `--format '{{json .}}'` prints it. */
interface DockerEvent {
  Action?: string;
  status?: string;
  timeNano?: number;
  Actor?: { Attributes?: Record<string, string> };
}

/** Returns the milliseconds between the first kill/stop of the container and its next start. Throws when either is missing. */
export function downtimeFromEvents(lines: string[]): number {
  const events = lines
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as DockerEvent)
    .sort((left, right) => (left.timeNano ?? 0) - (right.timeNano ?? 0));
  const action = (event: DockerEvent) => event.Action ?? event.status ?? "";
  const stopped = events.find((event) => ["kill", "stop", "die"].includes(action(event)));
  const started = events.find(
    (event) => action(event) === "start" && (event.timeNano ?? 0) > (stopped?.timeNano ?? Infinity),
  );
  if (!stopped?.timeNano || !started?.timeNano) {
    throw new Error(`docker events show no stop followed by a start: ${lines.join("\n")}`);
  }
  return (started.timeNano - stopped.timeNano) / 1e6;
}

/** Writes the client config of the compose stack's service. */
function writeDockerClientConfig(
  environment: BenchEnvironment,
  docker: DockerHandle,
  composeFile: string,
): string {
  const configDir = join(environment.workDir, "etc", "client-docker");
  rmSync(configDir, { recursive: true, force: true });
  writeConfig(join(configDir, "client_config.yml"), {
    hostname: dockerHost,
    base_backup_dir: environment.sshd.root,
    backup_user: environment.sshd.user,
    backup_group: String(environment.sshd.gid),
    state_dir: join(environment.workDir, "client-state", "docker"),
    min_free_space_mb: 1,
    lock_retries: 0,
    tools: { docker_cmd: docker.composeCommand },
  });
  writeConfig(join(configDir, "docker", "app", "service.yaml"), {
    service: { name: "app" },
    docker: { compose_file: composeFile },
    files: { paths: [environment.dataDir] },
  });
  return configDir;
}

/** Measures `runs` times, alternating: rsync -a of the data set, and a client run's downtime of the stack. */
export async function measureDowntime(
  environment: BenchEnvironment,
  options: { runs: number },
  record: Recorder,
): Promise<void> {
  const docker = await startDocker();
  try {
    const projectDir = join(environment.workDir, "compose");
    rmSync(projectDir, { recursive: true, force: true });
    mkdirSync(projectDir, { recursive: true });
    const composeFile = await docker.writeComposeProject(projectDir, {
      app: { command: ["sleep", "86400"], volumes: [`${environment.dataDir}:/data:ro`] },
    });
    await docker.compose(["--file", composeFile, "up", "-d"], { cwd: projectDir });
    const configDir = writeDockerClientConfig(environment, docker, composeFile);
    const copyTarget = join(environment.workDir, "downtime-rsync");
    const env = { ...docker.env, JOURNAL_STREAM: undefined };

    const timeRsync = async () => {
      rmSync(copyTarget, { recursive: true, force: true });
      mkdirSync(copyTarget);
      settle(environment);
      record(
        "downtime.rsync",
        await measure(["rsync", "-a", environment.dataDir, `${copyTarget}/`], { label: "downtime.rsync" }),
      );
      rmSync(copyTarget, { recursive: true, force: true });
    };
    const timeStack = async () => {
      settle(environment);
      const since = Date.now() / 1000;
      const client = await measure(
        [environment.binary, "--quiet", "client", "run", "--config-dir", configDir],
        {
          env,
          label: "downtime.client",
        },
      );
      const until = Date.now() / 1000 + 1;
      record("downtime.client", client);
      const events = await docker.docker([
        "events",
        "--since",
        since.toFixed(3),
        "--until",
        until.toFixed(3),
        "--filter",
        "type=container",
        "--filter",
        "event=kill",
        "--filter",
        "event=stop",
        "--filter",
        "event=die",
        "--filter",
        "event=start",
        "--format",
        "{{json .}}",
      ]);
      const downtimeMs = downtimeFromEvents(events.stdout.split("\n"));
      const stack: Measurement = { wallMs: downtimeMs, cpuMs: 0, userMs: 0, systemMs: 0, peakRssKiB: 0 };
      record("downtime.stack", stack);
      for (const name of readdirSync(environment.sshd.root)) {
        if (name.startsWith(`${dockerHost}-`)) rmSync(join(environment.sshd.root, name), { force: true });
      }
    };
    for (let run = 0; run < options.runs; run++) {
      if (run % 2 === 0) {
        await timeRsync();
        await timeStack();
      } else {
        await timeStack();
        await timeRsync();
      }
    }
    await docker.compose(["--file", composeFile, "down"], { cwd: projectDir, allowFailure: true });
  } finally {
    await docker.stop();
  }
}
