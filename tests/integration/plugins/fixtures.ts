// Shared by the plugin integration tests: executable scripts written by a test (fake tools, wrappers),
// and one service run through the real lifecycle (bindServiceTasks → runService) in a temp dir.

import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runService, type ServiceOutcome } from "../../../mod/client/service-run.ts";
import { type Tools, toolsSchema } from "../../../mod/config/tools.ts";
import { Logger } from "../../../mod/lib/log.ts";
import { type BoundTask, bindServiceTasks, withComposeStacks } from "../../../plugins/registry.ts";

/** Writes an executable script (mode 0755) and returns its path. */
export async function writeScript(path: string, text: string): Promise<string> {
  await writeFile(path, text, { mode: 0o755 });
  await chmod(path, 0o755);
  return path;
}

/** Options of runTasks. */
export interface RunTasksOptions {
  tools?: Partial<Tools>;
  isDryRun?: boolean;
  pluginDir?: string;
  signal?: AbortSignal;
}

/** A finished service run: its outcome and where it staged. */
export interface TasksRun {
  outcome: ServiceOutcome;
  /** The service's staging dir, `<root>/staging/web/shop`. */
  outputDir: string;
  stateDir: string;
}

/** A task of runTasks: a validated block bound through the registry, or a plugin given by the test. */
export type TestTask = { key: string; options: unknown } | BoundTask;

/** Returns the tasks bound to plugins as client run does it. */
function bindTasks(tasks: readonly TestTask[], pluginDir: string | undefined): BoundTask[] {
  return withComposeStacks(
    tasks.map((task) => ("plugin" in task ? task : (bindServiceTasks([task], pluginDir)[0] as BoundTask))),
  );
}

/** Runs the service web/shop with the given tasks through the whole lifecycle under root. */
export async function runTasks(
  root: string,
  tasks: readonly TestTask[],
  options: RunTasksOptions = {},
): Promise<TasksRun> {
  const serviceDirectory = join(root, "config", "web", "shop");
  await mkdir(serviceDirectory, { recursive: true, mode: 0o700 });
  const file = join(serviceDirectory, "service.yaml");
  await writeFile(file, "service:\n  name: shop\n", { mode: 0o600 });
  const stagingRoot = join(root, "staging");
  const stateDir = join(root, "state");
  const outcome = await runService(
    { type: "web", name: "shop", file, tasks: bindTasks(tasks, options.pluginDir) },
    {
      stagingRoot,
      stateDir,
      tools: { ...toolsSchema.parse({}), ...options.tools },
      logger: new Logger("test"),
      isDryRun: options.isDryRun ?? false,
      signal: options.signal ?? new AbortController().signal,
    },
  );
  return { outcome, outputDir: join(stagingRoot, "web", "shop"), stateDir };
}
