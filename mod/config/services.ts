// Loading of service files, `<config dir>/<type>/<name>/service.yaml|yml`: names and permissions
// checked, each task block validated by its built-in schema or handed to an external plugin.

import path from "node:path";
import { nameProblem } from "../lib/names.ts";
import { applyAliases, taskAliases } from "./aliases.ts";
import { configFilePermissionIssues, findingIssues, referencedFileIssues } from "./checks.ts";
import { discoverServiceFiles, hasExternalPlugin } from "./discovery.ts";
import { type ConfigDocument, fileIssue, issueAt, readYamlDocument, withoutEmptyValues } from "./document.ts";
import { type ConfigIssue, hasErrors, type LoadResult, sortIssues } from "./issues.ts";
import { serviceRules } from "./rules.ts";
import { type ServiceConfig, type ServiceTask, serviceFileHeaderSchema } from "./service.ts";
import { didYouMean } from "./suggest.ts";
import { builtinTaskSchemas, isBuiltinTaskKey } from "./tasks/index.ts";
import { configErrorMap, configIssuesFromZod } from "./zod-issues.ts";

/** Options of service loading. */
export interface ServiceLoadOptions {
  /** Where external plugins live (client_config.yml plugin_dir); when set, a task key with neither a
   * built-in task nor an executable there is a warning. */
  pluginDir?: string;
}

/** Validates one task block and returns the task, or undefined when the block is invalid. */
function loadTask(
  document: ConfigDocument,
  key: string,
  block: unknown,
  options: ServiceLoadOptions,
  issues: ConfigIssue[],
): ServiceTask | undefined {
  if (!isBuiltinTaskKey(key)) {
    const problem = nameProblem(key);
    if (problem) {
      issues.push(
        issueAt(document, [key], { message: `task key cannot name a plugin: ${problem}`, atKey: true }),
      );
      return undefined;
    }
    if (options.pluginDir !== undefined && !hasExternalPlugin(options.pluginDir, key)) {
      issues.push(
        issueAt(document, [key], {
          severity: "warning",
          message: `"${key}" is neither a built-in task nor an executable in the plugin dir "${options.pluginDir}"`,
          hint:
            didYouMean(key, ["service", ...Object.keys(builtinTaskSchemas)]) ??
            `install the plugin as ${path.join(options.pluginDir, key)}, or remove the task`,
          atKey: true,
        }),
      );
    }
    return { key, isBuiltin: false, options: block };
  }
  const schema = builtinTaskSchemas[key];
  // `files:` with nothing under it is a task with no settings, not a missing task
  const input = block === null ? {} : withoutEmptyValues(block);
  (document.value as Record<string, unknown>)[key] = input;
  issues.push(...applyAliases(document, taskAliases[key] ?? [], [key]));
  const result = schema.safeParse((document.value as Record<string, unknown>)[key], {
    error: configErrorMap,
  });
  if (!result.success) {
    issues.push(
      ...configIssuesFromZod(result.error.issues, {
        document,
        schema,
        input: (document.value as Record<string, unknown>)[key],
        prefix: [key],
      }),
    );
    return undefined;
  }
  return { key, isBuiltin: true, options: result.data } as ServiceTask;
}

/** Returns the secret files a task refers to, with their key paths. */
function taskSecretFiles(task: ServiceTask): { path: string[]; file: string | undefined }[] {
  if (!task.isBuiltin) return [];
  switch (task.key) {
    case "postgresql":
    case "mariadb":
    case "mysql":
      return [{ path: [task.key, "password_file"], file: task.options.password_file }];
    case "influxdb":
      return [{ path: [task.key, "token_file"], file: task.options.token_file }];
    default:
      return [];
  }
}

/** Loads and validates one service file; `configDir` is the directory holding `<type>/<name>/`. */
export function loadServiceFile(
  file: string,
  configDirectory: string,
  options: ServiceLoadOptions = {},
): LoadResult<ServiceConfig> {
  const directory = path.dirname(file);
  const type = path.basename(path.dirname(directory));
  const directoryName = path.basename(directory);
  const issues: ConfigIssue[] = [];
  const relative = path.relative(configDirectory, file);
  if (relative.startsWith("..") || relative.split(path.sep).length !== 3) {
    issues.push(
      fileIssue(file, {
        severity: "warning",
        message: `service files belong at <type>/<name>/service.yaml under "${configDirectory}"`,
      }),
    );
  }
  for (const [what, name] of [
    ["type directory", type],
    ["service directory", directoryName],
  ] as const) {
    const problem = nameProblem(name);
    if (problem) {
      issues.push(
        fileIssue(file, {
          message: `the ${what} name cannot be used: ${problem}`,
          hint: "rename the directory",
        }),
      );
    }
  }
  issues.push(...configFilePermissionIssues(file));
  const document = readYamlDocument(file);
  issues.push(...document.issues);
  if (document.isBroken) return { issues };
  if (document.value === undefined || document.value === null) {
    issues.push(
      fileIssue(file, { message: "the file is empty", hint: "write a service: block and at least one task" }),
    );
    return { issues };
  }
  if (typeof document.value !== "object" || Array.isArray(document.value)) {
    issues.push(issueAt(document, [], { message: "expected a mapping of service: and task blocks" }));
    return { issues };
  }
  const value = document.value as Record<string, unknown>;
  const headerInput = { service: withoutEmptyValues(value.service) ?? undefined };
  const header = serviceFileHeaderSchema.safeParse(headerInput, { error: configErrorMap });
  if (!header.success) {
    issues.push(
      ...configIssuesFromZod(header.error.issues, {
        document,
        schema: serviceFileHeaderSchema,
        input: headerInput,
      }),
    );
  }
  const tasks: ServiceTask[] = [];
  for (const [key, block] of Object.entries(value)) {
    if (key === "service") continue;
    const task = loadTask(document, key, block, options, issues);
    if (task) tasks.push(task);
  }
  if (header.success) {
    const declaredType = header.data.service.type;
    if (declaredType !== undefined && declaredType !== type) {
      issues.push(
        issueAt(document, ["service", "type"], {
          severity: "warning",
          message: `service.type "${declaredType}" differs from the directory's type "${type}", which is used`,
          hint: `remove service.type or move the service to ${declaredType}/`,
        }),
      );
    }
  }
  const taskKeys = Object.keys(value).filter((key) => key !== "service");
  issues.push(...findingIssues(document, serviceRules(tasks, taskKeys)));
  for (const secret of tasks.flatMap(taskSecretFiles))
    issues.push(...referencedFileIssues(document, secret.path, secret.file));
  const sorted = sortIssues(issues);
  if (!header.success || hasErrors(sorted)) return { issues: sorted };
  const service: ServiceConfig = { file, directory, type, name: header.data.service.name, tasks };
  if (header.data.service.description !== undefined) service.description = header.data.service.description;
  return { value: service, issues: sorted };
}

/** Loads every service file of a config dir, in sorted order, and checks that names are unique per type. */
export function loadServices(
  configDirectory: string,
  options: ServiceLoadOptions = {},
): LoadResult<ServiceConfig[]> {
  const { files, issues } = discoverServiceFiles(configDirectory);
  const services: ServiceConfig[] = [];
  for (const file of files) {
    const result = loadServiceFile(file, configDirectory, options);
    issues.push(...result.issues);
    if (result.value) services.push(result.value);
  }
  issues.push(...duplicateServiceNames(services));
  return hasErrors(issues) ? { issues } : { value: services, issues };
}

/** Two services of one type must not share a name: they would share a directory in the archive. */
export function duplicateServiceNames(services: readonly ServiceConfig[]): ConfigIssue[] {
  const seen = new Map<string, ServiceConfig>();
  const issues: ConfigIssue[] = [];
  for (const service of services) {
    const key = `${service.type}/${service.name}`;
    const first = seen.get(key);
    if (!first) {
      seen.set(key, service);
      continue;
    }
    issues.push(
      fileIssue(service.file, {
        message: `service "${key}" is already defined in "${first.file}"`,
        hint: "give each service of a type its own service.name",
      }),
    );
  }
  return issues;
}
