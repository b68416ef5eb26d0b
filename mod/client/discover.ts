// Discovery of the services to back up: every `<config dir>/<type>/<name>/service.yaml|yml`, in
// sorted order, validated, with a plugin found for each task and the tools it needs checked — all
// before anything is stopped. A service that fails here is reported and left out; the rest run.

import { findPlugin, withComposeStacks } from "../../plugins/registry.ts";
import type { ToolCommands } from "../../plugins/types.ts";
import { type ConfigIssue, formatIssue, hasErrors } from "../config/issues.ts";
import type { ServiceConfig } from "../config/service.ts";
import { findServiceFiles, loadServiceFile } from "../config/validate.ts";
import { errorMessage } from "../lib/errors.ts";
import { which } from "../lib/exec.ts";
import type { ServicePlan, ServiceTask } from "./service-run.ts";

/** A task as `client services` shows it: its plugin and whether the tools it needs are found. */
export interface DiscoveredTask {
  key: string;
  plugin: "built-in" | "external" | "missing";
  tools: { command: string; path?: string }[];
}

/** One service found under the config dir, runnable or not. */
export interface DiscoveredService {
  file: string;
  type: string;
  name: string;
  description?: string;
  tasks: DiscoveredTask[];
  /** Why the service cannot run (validation errors, missing plugins or tools); empty when it can. */
  problems: string[];
  warnings: string[];
  plan?: ServicePlan;
}

/** Returns the type and name directories of a service file path. */
function typeAndNameOf(file: string): { type: string; name: string } {
  const parts = file.split("/");
  return { type: parts.at(-3) ?? "", name: parts.at(-2) ?? "" };
}

/** Finds, validates and plans every service under configDir. */
export function discoverServices(
  configDir: string,
  options: { pluginDir: string; tools: ToolCommands; only?: string[] },
): DiscoveredService[] {
  const services: DiscoveredService[] = [];
  for (const file of findServiceFiles(configDir)) {
    const loaded = loadServiceFile(file, configDir);
    const issues: ConfigIssue[] = loaded.issues;
    const fallback = typeAndNameOf(file);
    const config: ServiceConfig | undefined = loaded.value;
    const service: DiscoveredService = {
      file,
      type: config?.type ?? fallback.type,
      name: config?.name ?? fallback.name,
      ...(config?.description ? { description: config.description } : {}),
      tasks: [],
      problems: issues.filter((issue) => issue.severity === "error").map(formatIssue),
      warnings: issues.filter((issue) => issue.severity === "warning").map(formatIssue),
    };
    if (
      options.only &&
      !options.only.some((wanted) => wanted === service.name || wanted === `${service.type}/${service.name}`)
    ) {
      continue;
    }
    services.push(service);
    if (!config || hasErrors(issues)) continue;

    const tasks: ServiceTask[] = [];
    for (const task of config.tasks) {
      let plugin: ReturnType<typeof findPlugin>;
      try {
        plugin = findPlugin(task.key, options.pluginDir);
      } catch (error) {
        // an unsafe external plugin: this service cannot run, the others can
        service.tasks.push({ key: task.key, plugin: "external", tools: [] });
        service.problems.push(`${file}: task "${task.key}": ${errorMessage(error)}`);
        continue;
      }
      if (!plugin) {
        service.tasks.push({ key: task.key, plugin: "missing", tools: [] });
        service.problems.push(
          `${file}: task "${task.key}" has no plugin: it is not built in and "${options.pluginDir}/${task.key}" is not an executable`,
        );
        continue;
      }
      const commands = [...new Set(plugin.requiredTools(task.options, options.tools))];
      const tools = commands.map((command: string) => {
        const path = which(command);
        return path ? { command, path } : { command };
      });
      service.tasks.push({ key: task.key, plugin: task.isBuiltin ? "built-in" : "external", tools });
      for (const tool of tools) {
        if (!tool.path) {
          service.problems.push(
            `${file}: task "${task.key}" needs "${tool.command}", which is not installed or not in PATH (install it, or set its tools.*_cmd)`,
          );
        }
      }
      tasks.push({ key: task.key, plugin, config: task.options });
    }
    if (service.problems.length === 0) {
      service.plan = { type: service.type, name: service.name, file, tasks: withComposeStacks(tasks) };
    }
  }
  return services;
}
