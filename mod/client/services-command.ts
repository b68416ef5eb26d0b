// `backupctl client services`: what `client run` would back up and how — every service with its
// tasks, the plugin of each, the tools it needs and whether they are installed, and any problem.

import { ExitCode } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import { formatTable } from "../notify/format.ts";
import { discoverServices } from "./discover.ts";
import { loadClientSettings } from "./run.ts";

/** Options of `client services`. */
export interface ClientServicesOptions {
  configDir: string;
  json?: boolean;
}

/** Prints the services and returns 0 when all can run, 2 when any has a problem. */
export async function runClientServices(
  options: ClientServicesOptions,
  output: { stdout(text: string): void },
): Promise<number> {
  const config = loadClientSettings(options.configDir, log.child("client"));
  const services = discoverServices(options.configDir, { pluginDir: config.plugin_dir, tools: config.tools });
  const hasProblems = services.some((service) => service.problems.length > 0);
  if (options.json) {
    const document = services.map(({ plan: _plan, ...service }) => ({
      ...service,
      runnable: service.problems.length === 0,
    }));
    output.stdout(`${JSON.stringify({ config_dir: options.configDir, services: document }, null, 2)}\n`);
    return hasProblems ? ExitCode.usage : ExitCode.ok;
  }
  if (services.length === 0) {
    output.stdout(`No services under "${options.configDir}" (expected <type>/<name>/service.yaml)\n`);
    return ExitCode.ok;
  }
  const rows: string[][] = [];
  for (const service of services) {
    const status = service.problems.length > 0 ? "CANNOT RUN" : "ok";
    const tasks = service.tasks.length > 0 ? service.tasks : [{ key: "-", plugin: "-", tools: [] }];
    tasks.forEach((task, index) => {
      const tools = task.tools
        .map((tool) => (tool.path ? tool.command : `${tool.command} (missing)`))
        .join(", ");
      rows.push([
        index === 0 ? `${service.type}/${service.name}` : "",
        task.key,
        task.plugin,
        tools,
        index === 0 ? status : "",
      ]);
    });
  }
  output.stdout(
    `${formatTable([{ header: "SERVICE" }, { header: "TASK" }, { header: "PLUGIN" }, { header: "TOOLS" }, { header: "STATUS" }], rows)}\n`,
  );
  for (const service of services) {
    for (const problem of service.problems) output.stdout(`problem: ${problem}\n`);
    for (const warning of service.warnings) output.stdout(`warning: ${warning}\n`);
  }
  return hasProblems ? ExitCode.usage : ExitCode.ok;
}
