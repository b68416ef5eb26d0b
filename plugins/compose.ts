// The compose command lines of a stack, shared by the `docker` task (stop, start, pin) and the database
// tasks that dump inside a compose service (`container`). Pure argv builders; the same argv works with
// `docker compose` and with `docker-compose` v1 (tools.docker_cmd).

import { dirname } from "node:path";
import type { DockerTask } from "../mod/config/tasks/docker.ts";

/** Where a compose stack is: the fields of a docker task that address it. */
export type ComposeStack = Pick<DockerTask, "compose_file" | "project_directory" | "project_name">;

/** Returns the stack's project directory: the configured one, else the compose file's directory. */
export function projectDirectoryOf(stack: ComposeStack): string {
  return stack.project_directory ?? dirname(stack.compose_file);
}

/** Returns the compose argv prefix that addresses the stack, for `docker compose` and `docker-compose` alike. */
export function composeArgv(composeCommand: readonly string[], stack: ComposeStack): string[] {
  return [
    ...composeCommand,
    "--file",
    stack.compose_file,
    "--project-directory",
    projectDirectoryOf(stack),
    ...(stack.project_name ? ["--project-name", stack.project_name] : []),
  ];
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
