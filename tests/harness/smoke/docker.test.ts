// The docker harness runs a private dockerd whose busybox image works, and compose stacks on it can be
// brought up, stopped and started — what the `docker` task does to a service.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type DockerHandle, startDocker } from "../docker.ts";
import { makeTempDir, removeTempDir } from "../tmp.ts";

describe("docker harness", () => {
  let docker: DockerHandle;
  let scratch: string;
  beforeAll(async () => {
    [docker, scratch] = await Promise.all([startDocker(), makeTempDir()]);
  }, 120_000);
  afterAll(async () => {
    await docker?.stop();
    if (scratch) await removeTempDir(scratch);
  }, 120_000);

  test("runs a container from the imported busybox image", async () => {
    const result = await docker.docker([
      "run",
      "--rm",
      "busybox:latest",
      "sh",
      "-c",
      "echo hello from $(uname -s)",
    ]);
    expect(result.stdout.trim()).toBe("hello from Linux");
  });

  /** Returns "service=running|exited" for each container of the compose project, sorted. */
  async function serviceStates(project: string): Promise<string[]> {
    const ids = await docker.docker([
      "ps",
      "--all",
      "--quiet",
      "--filter",
      `label=com.docker.compose.project=${project}`,
    ]);
    const idList = ids.stdout.split(/\s+/).filter(Boolean);
    if (idList.length === 0) return [];
    const format = '{{index .Config.Labels "com.docker.compose.service"}}={{.State.Status}}';
    const inspected = await docker.docker(["inspect", "--format", format, ...idList]);
    return inspected.stdout.trim().split("\n").sort();
  }

  test("brings a two-service compose project up, stops it and starts it again", async () => {
    const projectDir = join(scratch, "shop");
    await docker.writeComposeProject(projectDir, {
      app: { command: ["sleep", "3600"] },
      db: { command: ["sleep", "3600"] },
    });
    const compose = (args: string[]) =>
      docker.compose(["--project-name", "shop", ...args], { cwd: projectDir });

    await compose(["up", "--detach"]);
    expect(await serviceStates("shop")).toEqual(["app=running", "db=running"]);

    const stoppedAt = performance.now();
    await compose(["stop"]);
    expect(await serviceStates("shop")).toEqual(["app=exited", "db=exited"]);
    expect(performance.now() - stoppedAt).toBeLessThan(8_000);

    await compose(["start"]);
    expect(await serviceStates("shop")).toEqual(["app=running", "db=running"]);

    await compose(["down"]);
    expect(await serviceStates("shop")).toEqual([]);
  }, 60_000);
});
