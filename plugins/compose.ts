// The compose command lines of a stack, shared by the `docker` task (stop, start, pin) and the database
// tasks that dump inside a compose service (`container`). Pure argv builders, and the one file lookup
// they need (the override file compose itself would read); the same argv works with `docker compose`
// and with `docker-compose` v1 (tools.docker_cmd).

import { basename, dirname, join } from "node:path";
import type { DockerTask } from "../mod/config/tasks/docker.ts";
import { isRegularFile } from "../mod/lib/fs.ts";

/** The names compose looks for when no file is named; only these get an override file added. */
export const composeDefaultNames = [
  "compose.yaml",
  "compose.yml",
  "docker-compose.yml",
  "docker-compose.yaml",
] as const;

/** The override files compose reads beside a compose file of a default name, in the order it looks for them (the first found is read). */
export const composeOverrideNames = [
  "compose.override.yml",
  "compose.override.yaml",
  "docker-compose.override.yml",
  "docker-compose.override.yaml",
] as const;

/** Where a compose stack is: the fields of a docker task that address it. */
export type ComposeStack = Pick<DockerTask, "compose_file" | "project_directory" | "project_name">;

/** Returns the stack's project directory: the configured one, else the compose file's directory. */
export function projectDirectoryOf(stack: ComposeStack): string {
  return stack.project_directory ?? dirname(stack.compose_file);
}

/**
 * Returns the compose argv prefix that addresses the stack, for `docker compose` and `docker-compose`
 * alike: the compose file, then overrideFile when given (see findComposeOverride).
 */
export function composeArgv(
  composeCommand: readonly string[],
  stack: ComposeStack,
  overrideFile?: string,
): string[] {
  return [
    ...composeCommand,
    "--file",
    stack.compose_file,
    ...(overrideFile ? ["--file", overrideFile] : []),
    "--project-directory",
    projectDirectoryOf(stack),
    ...(stack.project_name ? ["--project-name", stack.project_name] : []),
  ];
}

/**
 * Returns the override file that `docker compose up` in the compose file's directory reads along with
 * it: the first of composeOverrideNames beside a compose file of one of compose's default names.
 * Naming the file with --file turns compose's own lookup off, so without it a service defined only in
 * the override would be neither listed, stopped, nor reachable with exec. Undefined when there is none.
 */
export async function findComposeOverride(composeFile: string): Promise<string | undefined> {
  if (!(composeDefaultNames as readonly string[]).includes(basename(composeFile))) return undefined;
  for (const name of composeOverrideNames) {
    const candidate = join(dirname(composeFile), name);
    if (await isRegularFile(candidate)) return candidate;
  }
  return undefined;
}

/** Returns the compose argv prefix of the stack with the override file compose itself would read (composeArgv + findComposeOverride). */
export async function stackComposeArgv(
  composeCommand: readonly string[],
  stack: ComposeStack,
): Promise<string[]> {
  return composeArgv(composeCommand, stack, await findComposeOverride(stack.compose_file));
}

/** Returns the argv listing the stack's running services, one per line. */
export function runningServicesArgv(compose: readonly string[]): string[] {
  return [...compose, "ps", "--services", "--filter", "status=running"];
}

/** Returns the argv stopping services, each given stopSeconds before it is killed. */
export function stopServicesArgv(
  compose: readonly string[],
  services: readonly string[],
  stopSeconds: number,
): string[] {
  return [...compose, "stop", "--timeout", String(stopSeconds), ...services];
}

/** Returns the argv starting services again. */
export function startServicesArgv(compose: readonly string[], services: readonly string[]): string[] {
  return [...compose, "start", ...services];
}

/** Returns the argv that runs a program inside a compose service without a terminal: `<compose> exec -T <service>`. */
export function composeExecArgv(compose: readonly string[], service: string): string[] {
  return [...compose, "exec", "-T", service];
}
