// Schema and shape of a service file, `<type>/<name>/service.yaml`: a `service:` header plus one
// block per task, keyed by a built-in task or an external plugin's name.

import { z } from "zod";
import { safeName, singleLineString } from "./fields.ts";
import type { BuiltinTaskConfigs, BuiltinTaskInputs, BuiltinTaskKey } from "./tasks/index.ts";

/** The `service:` header. */
export const serviceHeaderSchema = z.strictObject({
  name: safeName().describe("the service's name: its directory in the archive, <type>/<name> (required)"),
  type: safeName()
    .optional()
    .describe("the service's type; the directory <type>/ decides, so this must match it if set"),
  description: singleLineString().optional().describe("a note shown by backupctl client services"),
});

/** The top level of a service file except its task blocks (validated one by one). */
export const serviceFileHeaderSchema = z.strictObject({
  service: serviceHeaderSchema.describe("who this service is"),
});

export type ServiceHeaderInput = z.input<typeof serviceHeaderSchema>;
export type ServiceHeader = z.output<typeof serviceHeaderSchema>;

/** What users write in a service file. */
export type ServiceFileInput = { service: ServiceHeaderInput } & Partial<BuiltinTaskInputs> & {
    [externalPlugin: string]: unknown;
  };

/** A built-in task of a service, with its validated block. */
export type BuiltinServiceTask = {
  [Key in BuiltinTaskKey]: { key: Key; isBuiltin: true; options: BuiltinTaskConfigs[Key] };
}[BuiltinTaskKey];

/** A task run by an external plugin: its block is passed to the plugin as JSON, unchecked. */
export interface ExternalServiceTask {
  key: string;
  isBuiltin: false;
  options: unknown;
}

/** One task of a service, in the order of the file. */
export type ServiceTask = BuiltinServiceTask | ExternalServiceTask;

/** A validated service file as the client reads it. */
export interface ServiceConfig {
  /** The service file's path. */
  file: string;
  /** The directory holding the service file, `<config dir>/<type>/<name>`. */
  directory: string;
  /** The type, from the directory name. */
  type: string;
  /** The name from `service.name`. */
  name: string;
  description?: string;
  tasks: ServiceTask[];
}
