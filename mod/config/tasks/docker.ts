// Schema of a `docker:` task block: the compose stack that is stopped while its data is copied and
// started again afterwards, and what of its configuration goes into the archive.

import { z } from "zod";
import { absolutePath, expecting, seconds } from "../fields.ts";

const composeNameExpression = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** A compose service name, as in `services:` of the compose file. */
export function composeServiceName() {
  return z.string({ error: expecting("a compose service name") }).regex(composeNameExpression, {
    message: "must be a compose service name (letters, digits, '.', '_', '-')",
  });
}

/** `docker:` */
export const dockerTaskSchema = z.strictObject({
  compose_file: absolutePath().describe("the stack's compose file (required)"),
  project_directory: absolutePath()
    .optional()
    .describe("compose project directory (default: the compose file's directory)"),
  project_name: z
    .string({ error: expecting("a compose project name") })
    .regex(/^[a-z0-9][a-z0-9_-]*$/, {
      message: "must be a compose project name (lower-case letters, digits, '_', '-')",
    })
    .optional()
    .describe("compose project name (default: compose's own, from the project directory)"),
  stop_services: z
    .union([z.boolean(), z.array(composeServiceName()).min(1)], {
      error: expecting("true, false or a list of compose services"),
    })
    .default(true)
    .describe(
      "stop the running services while copying: true (all), false, or a list of services (default: true)",
    ),
  stop_wait_seconds: seconds()
    .default(30)
    .describe("seconds a service gets to stop before it is killed (default: 30)"),
  wait_after_restart: seconds()
    .default(0)
    .describe("seconds to wait after starting the services again (default: 0)"),
  backup_config: z
    .boolean()
    .default(true)
    .describe("copy the compose file, .env and override files into the archive (default: true)"),
  pin_images: z
    .boolean()
    .default(false)
    .describe("write docker-compose.pinned.yml with every image pinned to its digest (default: false)"),
});

export type DockerTaskInput = z.input<typeof dockerTaskSchema>;
export type DockerTask = z.output<typeof dockerTaskSchema>;
