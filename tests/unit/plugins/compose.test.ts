import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type ComposeStack,
  composeArgv,
  composeExecArgv,
  findComposeOverride,
  runningServicesArgv,
  stackComposeArgv,
  startServicesArgv,
  stopServicesArgv,
} from "../../../plugins/compose.ts";
import { parseQuiesceData, servicesToStop } from "../../../plugins/docker.ts";
import { makeTempDir, removeTempDir } from "../../harness/tmp.ts";

describe("composeArgv", () => {
  const cases: [string, string[], ComposeStack, string[]][] = [
    [
      "docker compose with the project directory taken from the compose file",
      ["docker", "compose"],
      { compose_file: "/srv/shop/docker-compose.yml" },
      ["docker", "compose", "--file", "/srv/shop/docker-compose.yml", "--project-directory", "/srv/shop"],
    ],
    [
      "docker-compose v1 with a project directory and name of its own",
      ["docker-compose"],
      { compose_file: "/srv/stacks/shop.yml", project_directory: "/srv/shop data", project_name: "shop" },
      [
        "docker-compose",
        "--file",
        "/srv/stacks/shop.yml",
        "--project-directory",
        "/srv/shop data",
        "--project-name",
        "shop",
      ],
    ],
  ];
  test.each(cases)("%s", (_name, command, stack, expected) => {
    expect(composeArgv(command, stack)).toEqual(expected);
  });
});

describe("compose subcommands", () => {
  const compose = ["docker-compose", "--file", "/srv/a.yml", "--project-directory", "/srv"];
  const cases: [string, string[], string[]][] = [
    [
      "running services",
      runningServicesArgv(compose),
      [...compose, "ps", "--services", "--filter", "status=running"],
    ],
    [
      "stop with a timeout",
      stopServicesArgv(compose, ["app", "db"], 30),
      [...compose, "stop", "--timeout", "30", "app", "db"],
    ],
    ["start exactly the given services", startServicesArgv(compose, ["db"]), [...compose, "start", "db"]],
    ["exec without a terminal", composeExecArgv(compose, "db"), [...compose, "exec", "-T", "db"]],
  ];
  test.each(cases)("%s", (_name, actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

describe("servicesToStop", () => {
  const running = ["app", "db", "worker"];
  const cases: [string, boolean | string[], string[]][] = [
    ["true stops every running service", true, ["app", "db", "worker"]],
    ["false stops nothing", false, []],
    ["a list stops the listed services that run", ["db", "worker"], ["db", "worker"]],
    ["a listed service that is not running is left alone", ["db", "cron"], ["db"]],
  ];
  test.each(cases)("%s", (_name, selection, expected) => {
    expect(servicesToStop(running, selection)).toEqual(expected);
  });

  test("never names a service that is not running", () => {
    expect(servicesToStop([], true)).toEqual([]);
  });
});

describe("parseQuiesceData", () => {
  test("returns the recorded compose argv and services", () => {
    expect(parseQuiesceData({ compose: ["docker", "compose"], services: ["app"] })).toEqual({
      compose: ["docker", "compose"],
      services: ["app"],
    });
  });

  test("refuses a record without a compose argv, with a hint to start by hand", () => {
    expect(() => parseQuiesceData({ services: ["app"] })).toThrow(/names no compose stack/);
    expect(() => parseQuiesceData({ compose: [], services: [] })).toThrow(/names no compose stack/);
  });
});

describe("findComposeOverride", () => {
  let directory: string;
  beforeEach(async () => {
    directory = await makeTempDir("bkpctl-compose-");
  });
  afterEach(async () => {
    await removeTempDir(directory);
  });

  test("finds the override compose itself reads beside a compose file of a default name, first in compose's order", async () => {
    await writeFile(join(directory, "docker-compose.yml"), "services: {}\n");
    expect(await findComposeOverride(join(directory, "docker-compose.yml"))).toBeUndefined();
    await writeFile(join(directory, "docker-compose.override.yaml"), "services: {}\n");
    expect(await findComposeOverride(join(directory, "docker-compose.yml"))).toBe(
      join(directory, "docker-compose.override.yaml"),
    );
    await writeFile(join(directory, "compose.override.yml"), "services: {}\n");
    expect(await findComposeOverride(join(directory, "docker-compose.yml"))).toBe(
      join(directory, "compose.override.yml"),
    );
  });

  test("adds nothing to a compose file of another name, which compose would not extend either", async () => {
    await writeFile(join(directory, "shop.yml"), "services: {}\n");
    await writeFile(join(directory, "docker-compose.override.yml"), "services: {}\n");
    expect(await findComposeOverride(join(directory, "shop.yml"))).toBeUndefined();
  });

  test("the override comes right after the compose file in the argv", async () => {
    await writeFile(join(directory, "compose.yaml"), "services: {}\n");
    await writeFile(join(directory, "compose.override.yml"), "services: {}\n");
    expect(
      await stackComposeArgv(["docker", "compose"], { compose_file: join(directory, "compose.yaml") }),
    ).toEqual([
      "docker",
      "compose",
      "--file",
      join(directory, "compose.yaml"),
      "--file",
      join(directory, "compose.override.yml"),
      "--project-directory",
      directory,
    ]);
  });
});
