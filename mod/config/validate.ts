// `backupctl config validate`: checks the structure, names and permissions of every config file
// present (or of the client's, the server's, or the given files) and reports all issues at once.
// It also re-exports the loaders, the one import the stages need for their configuration.

import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { ExitCode } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import { discoverServiceFiles } from "./discovery.ts";
import { fileIssue } from "./document.ts";
import { type ConfigIssue, formatIssue, hasErrors, sortIssues, uniqueIssues } from "./issues.ts";
import { configFileNames, loadClientConfig, loadCommonConfig, loadServerConfig } from "./load.ts";
import type { ServiceConfig } from "./service.ts";
import { duplicateServiceNames, loadServiceFile } from "./services.ts";
import { didYouMean } from "./suggest.ts";

export { discoverServiceFiles, findServiceFiles, hasExternalPlugin } from "./discovery.ts";
export type { ConfigIssue, LoadResult } from "./issues.ts";
export { formatIssue, hasErrors } from "./issues.ts";
export { loadClientConfig, loadCommonConfig, loadServerConfig } from "./load.ts";
export { loadServiceFile, loadServices } from "./services.ts";

/** What to validate: the files present under configDir, only the client or server side, or given files. */
export interface ConfigValidateOptions {
  configDir: string;
  client?: boolean;
  server?: boolean;
  files?: string[];
  json?: boolean;
}

/** Where the report goes. */
export interface ConfigValidateOutput {
  stdout(text: string): void;
}

/** The kinds of config file `config validate` tells apart by name. */
type ConfigFileKind = "common" | "legacyCommon" | "client" | "server" | "service";

/** What one validation pass found. */
interface ValidationReport {
  files: Set<string>;
  issues: ConfigIssue[];
}

/** Returns the kind of a config file from its name, or undefined. */
export function configFileKind(file: string): ConfigFileKind | undefined {
  const name = path.basename(file);
  if (name === configFileNames.common) return "common";
  if (name === configFileNames.legacyCommon) return "legacyCommon";
  if (name === configFileNames.client) return "client";
  if (name === configFileNames.server) return "server";
  if (name === "service.yaml" || name === "service.yml") return "service";
  return undefined;
}

/** Returns the plugin dir the client config names, quietly falling back to the default. */
function pluginDirOf(configDirectory: string): string {
  if (existsSync(path.join(configDirectory, configFileNames.client))) {
    const client = loadClientConfig(configDirectory);
    if (client.value) return client.value.plugin_dir;
  }
  return loadCommonConfig(configDirectory).value?.plugin_dir ?? "/opt/backup/lib/plugins";
}

/** Returns the common config file that is read in a config dir, if any. */
function commonFileOf(configDirectory: string): string | undefined {
  for (const name of [configFileNames.common, configFileNames.legacyCommon]) {
    const file = path.join(configDirectory, name);
    if (existsSync(file)) return file;
  }
  return undefined;
}

/** Validates the client side: client_config.yml (with common) and every service file. */
function validateClientSide(configDirectory: string, report: ValidationReport): void {
  const client = loadClientConfig(configDirectory);
  report.files.add(path.join(configDirectory, configFileNames.client));
  report.issues.push(...client.issues);
  const pluginDir = client.value?.plugin_dir ?? pluginDirOf(configDirectory);
  validateServices(configDirectory, pluginDir, report);
}

/** Validates every service file under a config dir. */
function validateServices(configDirectory: string, pluginDir: string, report: ValidationReport): void {
  const discovered = discoverServiceFiles(configDirectory);
  report.issues.push(...discovered.issues);
  const services: ServiceConfig[] = [];
  for (const file of discovered.files) {
    report.files.add(file);
    const result = loadServiceFile(file, configDirectory, { pluginDir });
    report.issues.push(...result.issues);
    if (result.value) services.push(result.value);
  }
  report.issues.push(...duplicateServiceNames(services));
}

/** Validates the server side: server_config.yml (with common). */
function validateServerSide(configDirectory: string, report: ValidationReport): void {
  report.files.add(path.join(configDirectory, configFileNames.server));
  report.issues.push(...loadServerConfig(configDirectory).issues);
}

/** Validates whatever is present in a config dir; a client-only or server-only dir is normal. */
function validateDirectory(configDirectory: string, report: ValidationReport): void {
  let isDirectory = false;
  try {
    isDirectory = statSync(configDirectory).isDirectory();
  } catch {
    // a missing dir is reported below like an empty one
  }
  if (!isDirectory) {
    report.issues.push(
      fileIssue(configDirectory, {
        message: `Cannot validate "${configDirectory}": no such directory`,
        hint: "pass --config-dir or set BACKUPCTL_CONFIG_DIR",
      }),
    );
    return;
  }
  const hasClient = existsSync(path.join(configDirectory, configFileNames.client));
  const hasServer = existsSync(path.join(configDirectory, configFileNames.server));
  const hasServices = discoverServiceFiles(configDirectory).files.length > 0;
  const commonFile = commonFileOf(configDirectory);
  if (!hasClient && !hasServer && !hasServices && !commonFile) {
    report.issues.push(
      fileIssue(configDirectory, {
        message: `Cannot validate "${configDirectory}": it holds no configuration files`,
        hint: `expected ${configFileNames.client}, ${configFileNames.server} or <type>/<name>/service.yaml`,
      }),
    );
    return;
  }
  reportStrayFiles(configDirectory, report);
  if (commonFile) {
    report.files.add(commonFile);
    report.issues.push(...loadCommonConfig(configDirectory).issues);
  }
  if (hasClient) validateClientSide(configDirectory, report);
  else if (hasServices) {
    report.issues.push(
      fileIssue(path.join(configDirectory, configFileNames.client), {
        message: `Cannot run the services of "${configDirectory}": ${configFileNames.client} is missing`,
        hint: `create ${configFileNames.client}, or remove the service directories on a server`,
      }),
    );
    validateServices(configDirectory, pluginDirOf(configDirectory), report);
  }
  if (hasServer) validateServerSide(configDirectory, report);
  if (!hasClient && !hasServer && !hasServices) {
    report.issues.push(
      fileIssue(commonFile ?? configDirectory, {
        severity: "warning",
        message: `neither ${configFileNames.client} nor ${configFileNames.server} is present`,
      }),
    );
  }
}

/** Warns about files in the config dir whose names are close to a config file's but not equal. */
function reportStrayFiles(configDirectory: string, report: ValidationReport): void {
  const known = [configFileNames.common, configFileNames.client, configFileNames.server];
  let names: string[] = [];
  try {
    names = readdirSync(configDirectory);
  } catch {
    return;
  }
  for (const name of names) {
    if (known.includes(name as (typeof known)[number]) || name === configFileNames.legacyCommon) continue;
    const suggestion = didYouMean(name, known);
    if (!suggestion) continue;
    report.issues.push(
      fileIssue(path.join(configDirectory, name), {
        severity: "warning",
        message: "ignored: not a config file name backupctl reads",
        hint: suggestion,
      }),
    );
  }
}

/** Validates the named files, each by the kind its name tells. */
function validateFiles(files: readonly string[], report: ValidationReport): void {
  for (const given of files) {
    const file = path.resolve(given);
    const directory = path.dirname(file);
    report.files.add(file);
    if (!existsSync(file)) {
      report.issues.push(fileIssue(file, { message: `Cannot read "${file}": no such file` }));
      continue;
    }
    switch (configFileKind(file)) {
      case "common":
      case "legacyCommon":
        report.issues.push(...loadCommonConfig(directory).issues);
        break;
      case "client":
        report.issues.push(...loadClientConfig(directory).issues);
        break;
      case "server":
        report.issues.push(...loadServerConfig(directory).issues);
        break;
      case "service": {
        const configDirectory = path.dirname(path.dirname(directory));
        report.issues.push(
          ...loadServiceFile(file, configDirectory, { pluginDir: pluginDirOf(configDirectory) }).issues,
        );
        break;
      }
      default:
        report.issues.push(
          fileIssue(file, {
            message: "Cannot tell what kind of config file this is from its name",
            hint: `name it ${configFileNames.common}, ${configFileNames.client}, ${configFileNames.server} or <type>/<name>/service.yaml`,
          }),
        );
    }
  }
}

/** Counts with a noun: "1 error", "2 warnings". */
function count(amount: number, noun: string): string {
  return `${amount} ${noun}${amount === 1 ? "" : "s"}`;
}

/** Runs `config validate` and returns its exit status: 0 when valid (warnings allowed), 2 when not. */
export async function runConfigValidate(
  options: ConfigValidateOptions,
  io: ConfigValidateOutput,
): Promise<number> {
  const configDirectory = path.resolve(options.configDir);
  const report: ValidationReport = { files: new Set(), issues: [] };
  if (options.files && options.files.length > 0) validateFiles(options.files, report);
  else if (options.client || options.server) {
    const commonFile = commonFileOf(configDirectory);
    if (commonFile) report.files.add(commonFile);
    if (options.client) validateClientSide(configDirectory, report);
    if (options.server) validateServerSide(configDirectory, report);
  } else validateDirectory(configDirectory, report);

  const issues = sortIssues(uniqueIssues(report.issues));
  const errors = issues.filter((issue) => issue.severity === "error").length;
  const warnings = issues.length - errors;
  const logger = log.child("config");
  for (const issue of issues) if (issue.severity === "warning") logger.warn(formatIssue(issue));

  if (options.json) {
    const document = { valid: errors === 0, errors, warnings, files: [...report.files].sort(), issues };
    io.stdout(`${JSON.stringify(document, null, 2)}\n`);
  } else {
    for (const issue of issues) io.stdout(`${formatIssue(issue)}\n`);
    io.stdout(
      `${count(errors, "error")}, ${count(warnings, "warning")} in ${count(report.files.size, "file")}\n`,
    );
  }
  return hasErrors(issues) ? ExitCode.usage : ExitCode.ok;
}
