import { describe, expect, test } from "bun:test";
import { dockerTaskSchema } from "../../../mod/config/tasks/docker.ts";
import { builtinTaskSchemas } from "../../../mod/config/tasks/index.ts";
import { mariadbTaskSchema } from "../../../mod/config/tasks/mariadb.ts";
import { postgresqlTaskSchema } from "../../../mod/config/tasks/postgresql.ts";
import { mariadbPlugin } from "../../../plugins/mariadb.ts";
import { postgresqlPlugin } from "../../../plugins/postgresql.ts";
import {
  bindServiceTasks,
  builtinPlugins,
  builtinTaskKeys,
  findBuiltinPlugin,
  findPlugin,
  withComposeStacks,
} from "../../../plugins/registry.ts";

describe("builtin plugins", () => {
  test("cover exactly the built-in task keys of the config, each with its schema", () => {
    expect(builtinTaskKeys()).toEqual(Object.keys(builtinTaskSchemas).sort());
    for (const [key, schema] of Object.entries(builtinTaskSchemas)) {
      expect(findBuiltinPlugin(key)?.schema).toBe(schema);
    }
  });

  test("mysql is the mariadb plugin", () => {
    expect(findBuiltinPlugin("mysql")).toBe(mariadbPlugin);
  });

  test("each takes part in the phase DESIGN §6.4 gives it", () => {
    const phases = Object.fromEntries(
      builtinPlugins.map((plugin) => [
        plugin.key,
        ["dump", "quiesce", "copy", "resume"].filter((phase) => phase in plugin),
      ]),
    );
    expect(phases).toEqual({
      postgresql: ["dump"],
      mariadb: ["dump"],
      sqlite: ["dump"],
      influxdb: ["dump"],
      command: ["dump"],
      docker: ["dump", "quiesce", "resume"],
      files: ["copy"],
    });
  });
});

describe("findPlugin", () => {
  test("finds a built-in without a plugin dir, and nothing for another key", () => {
    expect(findPlugin("postgresql")).toBe(postgresqlPlugin);
    expect(findPlugin("ldap")).toBeUndefined();
    expect(findPlugin("ldap", "/nonexistent/plugins")).toBeUndefined();
  });
});

describe("bindServiceTasks", () => {
  const docker = dockerTaskSchema.parse({ compose_file: "/srv/shop/compose.yml" });
  const postgresql = postgresqlTaskSchema.parse({ database: "shop", container: "db" });
  const mysql = mariadbTaskSchema.parse({ database: "shop", container: "db" });

  test("gives a database task with container the stack of the docker task", () => {
    const tasks = bindServiceTasks([
      { key: "docker", options: docker },
      { key: "postgresql", options: postgresql },
      { key: "mysql", options: mysql },
    ]);
    expect(tasks.map((task) => task.key)).toEqual(["docker", "postgresql", "mysql"]);
    expect(tasks[1]?.plugin).not.toBe(postgresqlPlugin);
    expect(tasks[1]?.plugin.key).toBe("postgresql");
    expect(tasks[2]?.plugin.key).toBe("mariadb");
    expect(tasks[1]?.plugin.requiredTools(postgresql, { docker_cmd: ["docker-compose"] } as never)).toEqual([
      "docker-compose",
    ]);
    expect(tasks[1]?.config).toBe(postgresql);
  });

  test("leaves a database task on the host alone", () => {
    const onHost = postgresqlTaskSchema.parse({ database: "shop" });
    const [task] = bindServiceTasks([{ key: "postgresql", options: onHost }]);
    expect(task?.plugin).toBe(postgresqlPlugin);
  });

  test("refuses a key without plugin, naming the built-ins", () => {
    expect(() => bindServiceTasks([{ key: "ldap", options: {} }], "/nonexistent")).toThrow(
      /Cannot run task "ldap": no built-in task and no plugin of that name/,
    );
  });
});

describe("withComposeStacks", () => {
  test("binds tasks planned with findPlugin the same way", () => {
    const docker = dockerTaskSchema.parse({ compose_file: "/srv/shop/compose.yml" });
    const postgresql = postgresqlTaskSchema.parse({ database: "shop", container: "db" });
    const planned = [
      { key: "docker", plugin: findPlugin("docker"), config: docker },
      { key: "postgresql", plugin: findPlugin("postgresql"), config: postgresql },
    ] as { key: string; plugin: NonNullable<ReturnType<typeof findPlugin>>; config: unknown }[];
    const [dockerTask, postgresqlTask] = withComposeStacks(planned);
    expect(dockerTask).toBe(planned[0] as never);
    expect(postgresqlTask?.plugin).not.toBe(postgresqlPlugin);
    expect(postgresqlTask?.config).toBe(postgresql);
  });
});
