// The task plugins by task key: the built-ins — a compiled binary holds only imported code, so each one
// is imported here — and, for any other key, an external plugin in plugin_dir. Binding a service's tasks
// gives a database task with `container` the compose stack of the service's docker task.

import type { DockerTask } from "../mod/config/tasks/docker.ts";
import { BackupError } from "../mod/lib/errors.ts";
import { commandPlugin } from "./command.ts";
import { dockerPlugin } from "./docker.ts";
import { findExternalPlugin } from "./external.ts";
import { filesPlugin } from "./files.ts";
import { influxdbPlugin } from "./influxdb.ts";
import { createMariadbPlugin, mariadbPlugin } from "./mariadb.ts";
import { createPostgresqlPlugin, postgresqlPlugin } from "./postgresql.ts";
import { sqlitePlugin } from "./sqlite.ts";
import type { TaskPlugin } from "./types.ts";

/** A plugin of any block type: the lifecycle pairs each plugin with its own parsed block. */
export type AnyTaskPlugin = TaskPlugin<any>;

/** Every built-in plugin, in the order a service's phases usually run them. */
export const builtinPlugins: readonly AnyTaskPlugin[] = [
  postgresqlPlugin,
  mariadbPlugin,
  sqlitePlugin,
  influxdbPlugin,
  commandPlugin,
  dockerPlugin,
  filesPlugin,
];

const builtinByKey = new Map<string, AnyTaskPlugin>(
  builtinPlugins.flatMap((plugin) =>
    [plugin.key, ...(plugin.aliases ?? [])].map((key) => [key, plugin] as const),
  ),
);

/** Returns every task key a built-in plugin handles, aliases included, sorted. */
export function builtinTaskKeys(): string[] {
  return [...builtinByKey.keys()].sort();
}

/** Returns the built-in plugin of a task key or alias, or undefined. */
export function findBuiltinPlugin(key: string): AnyTaskPlugin | undefined {
  return builtinByKey.get(key);
}

/** Returns the plugin of a task key: built-in, else the executable of that name in pluginDir, else undefined. Throws BackupError (usage) when that executable exists but must not be run. */
export function findPlugin(key: string, pluginDir?: string): AnyTaskPlugin | undefined {
  return findBuiltinPlugin(key) ?? (pluginDir === undefined ? undefined : findExternalPlugin(key, pluginDir));
}

/** A task of a service with its plugin and validated block, as mod/client/service-run.ts runs it. */
export interface BoundTask {
  key: string;
  plugin: AnyTaskPlugin;
  config: unknown;
}

/** Returns whether a validated database block names a container to dump in. */
function hasContainer(config: unknown): boolean {
  return typeof config === "object" && config !== null && "container" in config && Boolean(config.container);
}

/** Returns the tasks with each postgresql or mariadb task that has `container` given the stack of the service's docker task. */
export function withComposeStacks(tasks: readonly BoundTask[]): BoundTask[] {
  // the blocks are validated already: the docker block is a DockerTask
  const stack = tasks.find((task) => task.plugin === dockerPlugin)?.config as DockerTask | undefined;
  return tasks.map((task) => {
    if (!stack || !hasContainer(task.config)) return task;
    if (task.plugin === postgresqlPlugin) return { ...task, plugin: createPostgresqlPlugin(stack) };
    if (task.plugin === mariadbPlugin) return { ...task, plugin: createMariadbPlugin(stack) };
    return task;
  });
}

/** Binds a service's validated tasks to their plugins, database tasks with `container` to the service's compose stack. Throws BackupError (usage) when a key has no plugin or its external plugin must not be run. */
export function bindServiceTasks(
  tasks: readonly { key: string; options: unknown }[],
  pluginDir?: string,
): BoundTask[] {
  const bound = tasks.map((task): BoundTask => {
    const plugin = findPlugin(task.key, pluginDir);
    if (!plugin) {
      throw new BackupError(`Cannot run task "${task.key}": no built-in task and no plugin of that name`, {
        code: "usage",
        hint: `use one of ${builtinTaskKeys().join(", ")}, or install an executable "${task.key}" in ${pluginDir ?? "plugin_dir"}`,
      });
    }
    return { key: task.key, plugin, config: task.options };
  });
  return withComposeStacks(bound);
}
