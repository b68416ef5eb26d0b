// The docker task against a private dockerd with busybox stacks (tests/harness/docker.ts; the compose
// command there is whichever works, docker-compose v1 on this machine): only running services are
// stopped and exactly those started again, the stop is recorded first, config and pinned images are
// written, and database dumps run inside a compose service with `exec -T`. Busybox has no pg_dump or
// mariadb-dump, so the container dumps run small fake tools mounted into the container: the argv,
// the stdout into the dump file and the stdin of the read-back are real, the database is not.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { quiesceRecordDir } from "../../../mod/client/quiesce-records.ts";
import { type DockerTask, dockerTaskSchema } from "../../../mod/config/tasks/docker.ts";
import { mariadbTaskSchema } from "../../../mod/config/tasks/mariadb.ts";
import { postgresqlTaskSchema } from "../../../mod/config/tasks/postgresql.ts";
import { composeArgv } from "../../../plugins/compose.ts";
import type { TaskPlugin } from "../../../plugins/types.ts";
import { type DockerHandle, startDocker } from "../../harness/docker.ts";
import { runCommand } from "../../harness/process.ts";
import { makeTempDir, removeTempDir } from "../../harness/tmp.ts";
import { runTasks, writeScript } from "./fixtures.ts";

describe("docker task", () => {
  let docker: DockerHandle;
  let root: string;
  let tools: { docker_cmd: string[]; docker_cli_cmd: string[] };
  let projectDir: string;
  let composeFile: string;

  beforeAll(async () => {
    [docker, root] = await Promise.all([startDocker(), makeTempDir("bkpctl-dockertask-")]);
    const host = docker.env.DOCKER_HOST;
    tools = {
      docker_cmd:
        docker.composeCommand[0] === "docker"
          ? ["docker", "--host", host, "compose"]
          : [...docker.composeCommand, "--host", host],
      docker_cli_cmd: ["docker", "--host", host],
    };
    projectDir = join(root, "shop");
    const fakeBin = join(root, "fakebin");
    await mkdir(fakeBin);
    // fake dump tools inside the container: they print their argv as SQL comments and a complete end
    await writeScript(
      join(fakeBin, "pg_dump"),
      '#!/bin/sh\necho "-- FAKEDUMP by pg_dump $*"\nprintf -- "--\\n-- PostgreSQL database dump complete\\n--\\n"\n',
    );
    await writeScript(
      join(fakeBin, "pg_restore"),
      "#!/bin/sh\ncat > /tmp/restored\ngrep -q FAKEDUMP /tmp/restored\n",
    );
    await writeScript(
      join(fakeBin, "mariadb-dump"),
      '#!/bin/sh\n[ "$1" = --version ] && exit 0\necho "-- FAKEDUMP by mariadb-dump $*"\necho "-- Dump completed"\n',
    );
    composeFile = await docker.writeComposeProject(projectDir, {
      app: { command: ["sleep", "3600"] },
      db: { command: ["sleep", "3600"], volumes: [`${fakeBin}:/usr/local/bin:ro`] },
      idle: { command: ["sleep", "3600"] },
    });
    await writeFile(join(projectDir, ".env"), "SHOP_SECRET=from-dotenv\n", { mode: 0o600 });
    await writeFile(
      join(projectDir, "docker-compose.override.yml"),
      "services:\n  app:\n    labels:\n      tier: front\n",
    );
    await compose(["up", "--detach"]);
    // stopped before any run: it must stay stopped
    await compose(["stop", "idle"]);
  }, 180_000);
  afterAll(async () => {
    await docker?.stop();
    if (root) await removeTempDir(root);
  }, 120_000);

  /** The compose argv of the shop stack as the task addresses it: with the override file beside it. */
  function shopCompose(): string[] {
    return composeArgv(
      tools.docker_cmd,
      { compose_file: composeFile, project_name: "shop" },
      join(projectDir, "docker-compose.override.yml"),
    );
  }

  /** Runs the compose command on the shop stack as the task addresses it. */
  async function compose(args: string[]) {
    return await runCommand([...shopCompose(), ...args], { timeoutMs: 120_000 });
  }

  /** Returns "service=state" of every container of a stack (default shop), sorted. */
  async function states(project = "shop"): Promise<string[]> {
    const listed = await docker.docker([
      "ps",
      "--all",
      "--filter",
      `label=com.docker.compose.project=${project}`,
      "--format",
      '{{.Label "com.docker.compose.service"}}={{.State}}',
    ]);
    return listed.stdout.trim().split("\n").sort();
  }

  /** The stop records with their services sorted: they are in compose's order, which an override file can change. */
  function withSortedServices(records: unknown[] | undefined): unknown[] | undefined {
    return records?.map((record) => {
      const { data } = record as { data: { compose: string[]; services: string[] } };
      return { ...(record as object), data: { ...data, services: [...data.services].sort() } };
    });
  }

  /** A docker block for the shop stack. */
  function dockerTask(extra: Record<string, unknown> = {}): DockerTask {
    return dockerTaskSchema.parse({
      compose_file: composeFile,
      project_name: "shop",
      stop_wait_seconds: 5,
      ...extra,
    });
  }

  /** A task whose copy step records the containers' states and the stop records on disk, then fails if asked. */
  function probe(
    stateDir: string,
    seen: { states?: string[]; records?: unknown[] },
    options: { shouldFail?: boolean; project?: string } = {},
  ) {
    const plugin: TaskPlugin<unknown> = {
      key: "probe",
      schema: z.unknown(),
      requiredTools: () => [],
      async copy() {
        seen.states = await states(options.project);
        const directory = quiesceRecordDir(stateDir);
        seen.records = await Promise.all(
          (await readdir(directory)).map(async (name) =>
            JSON.parse(await readFile(join(directory, name), "utf8")),
          ),
        );
        if (options.shouldFail) throw new Error("copy failed on purpose");
        return { outputs: [], warnings: [] };
      },
    };
    return { key: "probe", plugin, config: {} };
  }

  test("stops only the running services, recorded first, and starts exactly those again", async () => {
    expect(await states()).toEqual(["app=running", "db=running", "idle=exited"]);
    const runRoot = join(root, "lifecycle");
    const seen: { states?: string[]; records?: unknown[] } = {};
    const run = await runTasks(
      runRoot,
      [{ key: "docker", options: dockerTask({ pin_images: true }) }, probe(join(runRoot, "state"), seen)],
      { tools },
    );
    expect(run.outcome.status).toBe("ok");
    expect(run.outcome.downtimeMs).toBeGreaterThan(0);
    expect(seen.states).toEqual(["app=exited", "db=exited", "idle=exited"]);
    expect(withSortedServices(seen.records)).toEqual([
      expect.objectContaining({
        serviceType: "web",
        serviceName: "shop",
        taskKey: "docker",
        data: { compose: shopCompose(), services: ["app", "db"] },
      }),
    ]);
    expect(await states()).toEqual(["app=running", "db=running", "idle=exited"]);
    expect(await readdir(quiesceRecordDir(run.stateDir))).toEqual([]);

    const configDir = join(run.outputDir, "docker_config");
    expect((await readdir(configDir)).sort()).toEqual([
      ".env",
      "docker-compose.override.yml",
      "docker-compose.pinned.yml",
      "docker-compose.yml",
    ]);
    const pinnedText = await readFile(join(configDir, "docker-compose.pinned.yml"), "utf8");
    const pinned = parse(pinnedText) as { services: Record<string, { image: string; command: string[] }> };
    // busybox was imported, not pulled: it has no registry digest, so the image ID is written and marked
    const imageId = (
      await docker.docker(["image", "inspect", "--format", "{{.Id}}", "busybox:latest"])
    ).stdout.trim();
    expect(Object.values(pinned.services).map((service) => service.image)).toEqual([
      imageId,
      imageId,
      imageId,
    ]);
    expect(pinned.services.app?.command).toEqual(["sleep", "3600"]);
    expect(pinnedText).toContain(
      `image: ${imageId} # image ID, not pullable: busybox:latest has no registry digest`,
    );
    expect(run.outcome.tasks[0]?.warnings).toContainEqual(expect.stringContaining("cannot be pulled"));
  }, 120_000);

  test("a service defined only in the override file beside the compose file is stopped and started as compose up ran it", async () => {
    const cafeDir = join(root, "cafe");
    const cafeFile = await docker.writeComposeProject(cafeDir, { web: { command: ["sleep", "3600"] } });
    const override = join(cafeDir, "docker-compose.override.yml");
    await writeFile(
      override,
      'services:\n  worker:\n    image: busybox:latest\n    init: true\n    command: ["sleep", "3600"]\n',
    );
    const cafeCompose = composeArgv(
      tools.docker_cmd,
      { compose_file: cafeFile, project_name: "cafe" },
      override,
    );
    await runCommand([...cafeCompose, "up", "--detach"], { timeoutMs: 120_000 });
    expect(await states("cafe")).toEqual(["web=running", "worker=running"]);

    const runRoot = join(root, "override");
    const seen: { states?: string[]; records?: unknown[] } = {};
    const cafeTask = dockerTaskSchema.parse({
      compose_file: cafeFile,
      project_name: "cafe",
      stop_wait_seconds: 5,
    });
    const run = await runTasks(
      runRoot,
      [{ key: "docker", options: cafeTask }, probe(join(runRoot, "state"), seen, { project: "cafe" })],
      { tools },
    );
    expect(run.outcome.status).toBe("ok");
    // without the override compose knows only "web": "worker" would keep writing during the copy
    expect(seen.states).toEqual(["web=exited", "worker=exited"]);
    expect(withSortedServices(seen.records)).toEqual([
      expect.objectContaining({ data: { compose: cafeCompose, services: ["web", "worker"] } }),
    ]);
    expect(await states("cafe")).toEqual(["web=running", "worker=running"]);
  });

  test("stop_services as a list stops only those of them that run", async () => {
    const runRoot = join(root, "list");
    const seen: { states?: string[] } = {};
    const run = await runTasks(
      runRoot,
      [
        { key: "docker", options: dockerTask({ stop_services: ["db", "idle"], backup_config: false }) },
        probe(join(runRoot, "state"), seen),
      ],
      { tools },
    );
    expect(run.outcome.status).toBe("ok");
    expect(seen.states).toEqual(["app=running", "db=exited", "idle=exited"]);
    expect(await states()).toEqual(["app=running", "db=running", "idle=exited"]);
    expect(existsSync(join(run.outputDir, "docker_config"))).toBe(false);
  }, 120_000);

  test("a copy that fails still starts what was stopped", async () => {
    const runRoot = join(root, "failing");
    const seen: { states?: string[] } = {};
    const run = await runTasks(
      runRoot,
      [{ key: "docker", options: dockerTask() }, probe(join(runRoot, "state"), seen, { shouldFail: true })],
      { tools },
    );
    expect(run.outcome.status).toBe("failed");
    expect(run.outcome.error).toContain("copy failed on purpose");
    expect(seen.states).toEqual(["app=exited", "db=exited", "idle=exited"]);
    expect(await states()).toEqual(["app=running", "db=running", "idle=exited"]);
    expect(await readdir(quiesceRecordDir(run.stateDir))).toEqual([]);
  }, 120_000);

  test("dry-run stops nothing and writes nothing", async () => {
    const runRoot = join(root, "dry");
    const run = await runTasks(runRoot, [{ key: "docker", options: dockerTask({ pin_images: true }) }], {
      tools,
      isDryRun: true,
    });
    expect(run.outcome.status).toBe("ok");
    expect(await states()).toEqual(["app=running", "db=running", "idle=exited"]);
    expect(existsSync(join(runRoot, "staging"))).toBe(false);
    expect(existsSync(join(runRoot, "state"))).toBe(false);
  }, 120_000);

  test("postgresql and mariadb dumps run inside the compose service with exec -T", async () => {
    const stack = {
      compose_file: composeFile,
      project_name: "shop",
      stop_services: false,
      backup_config: false,
    };
    const run = await runTasks(
      join(root, "container"),
      [
        { key: "docker", options: dockerTaskSchema.parse(stack) },
        {
          key: "postgresql",
          options: postgresqlTaskSchema.parse({ database: "shop", container: "db", username: "app" }),
        },
        {
          key: "mariadb",
          options: mariadbTaskSchema.parse({
            database: "orders",
            container: "db",
            single_transaction: false,
          }),
        },
      ],
      { tools },
    );
    expect(run.outcome.status).toBe("ok");
    expect(run.outcome.tasks.map((task) => task.outputs)).toEqual([
      [],
      ["databases/shop.sql"],
      ["databases/orders.sql"],
    ]);
    const postgresDump = await readFile(join(run.outputDir, "databases", "shop.sql"), "utf8");
    expect(postgresDump.split("\n")[0]).toBe(
      "-- FAKEDUMP by pg_dump --format=plain --username=app --no-password --dbname=shop",
    );
    const mariadbDump = await readFile(join(run.outputDir, "databases", "orders.sql"), "utf8");
    expect(mariadbDump.split("\n")[0]).toBe(
      "-- FAKEDUMP by mariadb-dump --routines --events --triggers --skip-dump-date --user=root --databases -- orders",
    );
  }, 120_000);

  test("a custom-format dump in a container is read back by pg_restore in the container, from stdin", async () => {
    const stack = {
      compose_file: composeFile,
      project_name: "shop",
      stop_services: false,
      backup_config: false,
    };
    const run = await runTasks(
      join(root, "container-custom"),
      [
        { key: "docker", options: dockerTaskSchema.parse(stack) },
        {
          key: "postgresql",
          options: postgresqlTaskSchema.parse({ database: "shop", container: "db", format: "custom" }),
        },
      ],
      { tools },
    );
    expect(run.outcome.status).toBe("ok");
    expect(await readdir(join(run.outputDir, "databases"))).toEqual(["shop.dump"]);
    const received = await compose(["exec", "-T", "db", "cat", "/tmp/restored"]);
    expect(received.stdout).toStartWith("-- FAKEDUMP by pg_dump --format=custom");
  }, 120_000);
});
