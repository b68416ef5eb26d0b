import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { z } from "zod";
import { clientConfigSchema } from "../../../mod/config/client.ts";
import { commonConfigSchema } from "../../../mod/config/common.ts";
import { serverConfigSchema } from "../../../mod/config/server.ts";
import { serviceFileHeaderSchema } from "../../../mod/config/service.ts";
import { builtinTaskSchemas } from "../../../mod/config/tasks/index.ts";
import { allowedKeysAt } from "../../../mod/config/zod-issues.ts";

const configs = path.join(import.meta.dir, "../../../configs");

/** Returns every key path an object schema allows, descending into nested objects and lists. */
function keyPaths(schema: z.core.$ZodType, prefix: (string | number)[] = []): string[] {
  const paths: string[] = [];
  for (const key of allowedKeysAt(schema, prefix)) {
    paths.push([...prefix, key].filter((segment) => typeof segment === "string").join("."));
    paths.push(...keyPaths(schema, [...prefix, key]));
    paths.push(...keyPaths(schema, [...prefix, key, 0]));
  }
  return [...new Set(paths)];
}

/** Returns the text of an example config. */
function example(relative: string): string {
  return readFileSync(path.join(configs, relative), "utf8");
}

/** Returns the keys of a schema that an example's text never mentions; keys below `documentedElsewhere`
 * blocks (tools, mail: documented in full in common_config.yml) are left out. */
function unmentioned(schema: z.core.$ZodType, text: string, documentedElsewhere: string[] = []): string[] {
  return keyPaths(schema)
    .filter(
      (keyPath) =>
        !keyPath
          .split(".")
          .slice(0, -1)
          .some((segment) => documentedElsewhere.includes(segment)),
    )
    .map((keyPath) => keyPath.split(".").at(-1) as string)
    .filter((key) => !new RegExp(`(^|[\\s{,#-])${key}:`, "m").test(text));
}

describe("the example configs document every key", () => {
  test("common_config.yml", () => {
    expect(unmentioned(commonConfigSchema, example("common_config.yml"))).toEqual([]);
  });

  test("client_config.yml", () => {
    expect(unmentioned(clientConfigSchema, example("client_config.yml"), ["tools", "mail"])).toEqual([]);
  });

  test("server_config.yml", () => {
    expect(keyPaths(serverConfigSchema)).toContain("hosts.maintenance.keep_last");
    expect(unmentioned(serverConfigSchema, example("server_config.yml"), ["tools", "mail"])).toEqual([]);
  });

  test("the example services together show every key of the docker, database and files tasks", () => {
    const services = ["docker/nextcloud", "docker/wiki", "files/etc", "sqlite/grafana"]
      .map((service) => example(`${service}/service.yaml`))
      .join("\n");
    expect(unmentioned(serviceFileHeaderSchema, services)).toEqual([]);
    for (const key of ["docker", "postgresql", "mariadb", "files", "sqlite"] as const) {
      expect([key, unmentioned(builtinTaskSchemas[key], services)]).toEqual([key, []]);
    }
  });
});
