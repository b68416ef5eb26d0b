// Loading of common_config.yml, client_config.yml and server_config.yml: read with positions, check
// permissions, rewrite old key names, merge the common defaults, validate, apply the rules.

import { existsSync } from "node:fs";
import path from "node:path";
import type { z } from "zod";
import { applyAliases, clientAliases, commonAliases, type KeyAlias, serverAliases } from "./aliases.ts";
import { type ClientConfig, clientConfigSchema } from "./client.ts";
import { type CommonConfig, commonConfigSchema, inheritedCommonKeys } from "./common.ts";
import {
  type ConfigDocument,
  fileIssue,
  issueAt,
  pathKey,
  readYamlDocument,
  withoutEmptyValues,
} from "./document.ts";
import { type ConfigIssue, hasErrors, type KeyPath, type LoadResult, sortIssues } from "./issues.ts";
import { readLegacyCommonConfig } from "./legacy.ts";
import { type FileAccess, permissionProblems } from "./permissions.ts";
import { clientRules, type RuleFinding, serverRules } from "./rules.ts";
import { resolveServerConfig, type ServerConfig, serverConfigSchema } from "./server.ts";
import { configErrorMap, configIssuesFromZod } from "./zod-issues.ts";

/** File names inside the config directory. */
export const configFileNames = {
  common: "common_config.yml",
  legacyCommon: "common_config",
  client: "client_config.yml",
  server: "server_config.yml",
} as const;

/** Returns whether a value is a plain mapping. */
function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Returns the issues of a config file's own ownership and mode (it must be private). */
export function configFilePermissionIssues(file: string): ConfigIssue[] {
  return permissionProblems(file)
    .filter((problem) => problem.kind !== "missing")
    .map((problem) => fileIssue(file, { message: problem.message, hint: problem.hint }));
}

/** Returns the issues of a file a config refers to (password, key, known_hosts), if that file exists. */
export function referencedFileIssues(
  document: ConfigDocument,
  keyPath: KeyPath,
  file: string | undefined,
  access: FileAccess = "private",
): ConfigIssue[] {
  if (file === undefined) return [];
  // whether the file exists on this host is checked when it is used; only a present file can be too open
  return permissionProblems(file, { access })
    .filter((problem) => problem.kind !== "missing")
    .map((problem) => issueAt(document, keyPath, { message: problem.message, hint: problem.hint }));
}

/** Turns rule findings into issues located in a document. */
export function findingIssues(document: ConfigDocument, findings: readonly RuleFinding[]): ConfigIssue[] {
  return findings.map((finding) =>
    issueAt(document, finding.path, {
      severity: finding.severity,
      message: finding.message,
      hint: finding.hint,
    }),
  );
}

/** Prepares a parsed document: empty values dropped, old key names rewritten; returns its issues so far. */
export function prepareDocument(document: ConfigDocument, aliases: readonly KeyAlias[]): ConfigIssue[] {
  const issues = [...document.issues];
  if (document.isBroken) return issues;
  if (document.value === undefined || document.value === null) {
    issues.push(
      fileIssue(document.file, {
        message: "the file holds no settings",
        hint: "write at least one setting, or {} to take every default",
      }),
    );
    document.isBroken = true;
    return issues;
  }
  document.value = withoutEmptyValues(document.value);
  issues.push(...applyAliases(document, aliases));
  return issues;
}

/** Validates a prepared document's value against a schema. */
export function validatePrepared<Schema extends z.ZodType>(
  document: ConfigDocument,
  schema: Schema,
): LoadResult<z.output<Schema>> {
  if (document.isBroken) return { issues: [] };
  const result = schema.safeParse(document.value, { error: configErrorMap });
  if (!result.success) {
    return { issues: configIssuesFromZod(result.error.issues, { document, schema, input: document.value }) };
  }
  return { value: result.data, issues: [] };
}

/** The common config as read: the file it came from, what the user wrote, and its validated value. */
interface CommonSource {
  document?: ConfigDocument;
  value?: CommonConfig;
  issues: ConfigIssue[];
}

/** Reads common_config.yml, else the legacy shell common_config, else nothing (built-in defaults). */
function readCommonSource(configDirectory: string): CommonSource {
  const yamlFile = path.join(configDirectory, configFileNames.common);
  const legacyFile = path.join(configDirectory, configFileNames.legacyCommon);
  const issues: ConfigIssue[] = [];
  let document: ConfigDocument;
  if (existsSync(yamlFile)) {
    if (existsSync(legacyFile)) {
      issues.push(
        fileIssue(legacyFile, {
          severity: "warning",
          message: `ignored: ${configFileNames.common} is read instead`,
          hint: `remove ${legacyFile}`,
        }),
      );
    }
    issues.push(...configFilePermissionIssues(yamlFile));
    document = readYamlDocument(yamlFile);
  } else if (existsSync(legacyFile)) {
    issues.push(...configFilePermissionIssues(legacyFile));
    document = readLegacyCommonConfig(legacyFile);
  } else {
    return { value: commonConfigSchema.parse({}), issues };
  }
  issues.push(...prepareDocument(document, commonAliases));
  const result = validatePrepared(document, commonConfigSchema);
  issues.push(...result.issues);
  if (result.value) {
    issues.push(
      ...referencedFileIssues(
        document,
        ["mail", "smtp", "password_file"],
        result.value.mail.smtp.password_file,
      ),
    );
  }
  return { document, value: hasErrors(issues) ? undefined : result.value, issues };
}

/** Loads common_config.yml (or the legacy common_config); a missing file means the built-in defaults. */
export function loadCommonConfig(configDirectory: string): LoadResult<CommonConfig> {
  const { value, issues } = readCommonSource(configDirectory);
  return value ? { value, issues: sortIssues(issues) } : { issues: sortIssues(issues) };
}

/** Copies what the common config sets and the target leaves out, keeping the common file's positions. */
function inheritCommonValues(target: ConfigDocument, common: ConfigDocument, targetPrefix: KeyPath): void {
  if (!isMapping(common.value)) return;
  const targetRoot = targetPrefix.length === 0 ? target.value : valueAtPath(target.value, targetPrefix);
  if (!isMapping(targetRoot)) return;
  for (const key of inheritedCommonKeys) {
    mergeMissing(targetRoot, common.value, key, [...targetPrefix], [], target, common);
  }
}

/** Sets target[key] from source[key] where the target has nothing, descending into mappings. */
function mergeMissing(
  target: Record<string, unknown>,
  source: Record<string, unknown>,
  key: string,
  targetPath: KeyPath,
  sourcePath: KeyPath,
  targetDocument: ConfigDocument,
  sourceDocument: ConfigDocument,
): void {
  const sourceValue = source[key];
  if (sourceValue === undefined) return;
  const targetValue = target[key];
  if (targetValue === undefined) {
    target[key] = structuredClone(sourceValue);
    copyLocations(sourceDocument, [...sourcePath, key], targetDocument, [...targetPath, key]);
    return;
  }
  if (isMapping(targetValue) && isMapping(sourceValue)) {
    for (const innerKey of Object.keys(sourceValue)) {
      mergeMissing(
        targetValue,
        sourceValue,
        innerKey,
        [...targetPath, key],
        [...sourcePath, key],
        targetDocument,
        sourceDocument,
      );
    }
  }
}

/** Copies positions under a path of one document to a path of another. */
function copyLocations(from: ConfigDocument, fromPath: KeyPath, to: ConfigDocument, toPath: KeyPath): void {
  const prefix = pathKey(fromPath).slice(0, -1);
  for (const [key, location] of from.locations) {
    if (key !== pathKey(fromPath) && !key.startsWith(`${prefix},`)) continue;
    const rest = (JSON.parse(key) as (string | number)[]).slice(fromPath.length);
    const targetKey = pathKey([...toPath, ...rest]);
    if (!to.locations.has(targetKey)) to.locations.set(targetKey, location);
  }
}

/** Returns the value at a path, or undefined. */
function valueAtPath(value: unknown, keyPath: KeyPath): unknown {
  let current = value;
  for (const segment of keyPath) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

/** Reads a client or server file and prepares it: permissions, old names, inherited common values. */
function readJobDocument(
  file: string,
  common: CommonSource,
  options: { aliases: readonly KeyAlias[]; commonPrefix: KeyPath },
): { document?: ConfigDocument; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  if (!existsSync(file)) {
    issues.push(fileIssue(file, { message: `Cannot read "${file}": no such file` }));
    return { issues };
  }
  issues.push(...configFilePermissionIssues(file));
  const document = readYamlDocument(file);
  issues.push(...prepareDocument(document, options.aliases));
  // the common file's values are inherited only when it is valid: its own errors are reported already
  if (!document.isBroken && isMapping(document.value) && common.value && common.document) {
    const root = document.value;
    const [first] = options.commonPrefix;
    if (first !== undefined && root[first] === undefined) root[first] = {};
    inheritCommonValues(document, common.document, options.commonPrefix);
  }
  return { document, issues };
}

/** Loads client_config.yml with common_config.yml's values as defaults (client > common > built-in). */
export function loadClientConfig(configDirectory: string): LoadResult<ClientConfig> {
  const common = readCommonSource(configDirectory);
  const file = path.join(configDirectory, configFileNames.client);
  const { document, issues } = readJobDocument(file, common, { aliases: clientAliases, commonPrefix: [] });
  const allIssues = [...common.issues, ...issues];
  if (!document) return { issues: sortIssues(allIssues) };
  const result = validatePrepared(document, clientConfigSchema);
  allIssues.push(...result.issues);
  if (result.value) {
    allIssues.push(...findingIssues(document, clientRules(result.value)));
    allIssues.push(
      ...referencedFileIssues(
        document,
        ["mail", "smtp", "password_file"],
        result.value.mail.smtp.password_file,
      ),
    );
  }
  const sorted = sortIssues(allIssues);
  return hasErrors(sorted) || !result.value ? { issues: sorted } : { value: result.value, issues: sorted };
}

/** Loads server_config.yml with common_config.yml's values as defaults of `global`, and resolves each host. */
export function loadServerConfig(configDirectory: string): LoadResult<ServerConfig> {
  const common = readCommonSource(configDirectory);
  const file = path.join(configDirectory, configFileNames.server);
  const { document, issues } = readJobDocument(file, common, {
    aliases: serverAliases,
    commonPrefix: ["global"],
  });
  const allIssues = [...common.issues, ...issues];
  if (!document) return { issues: sortIssues(allIssues) };
  const result = validatePrepared(document, serverConfigSchema);
  allIssues.push(...result.issues);
  if (!result.value) return { issues: sortIssues(allIssues) };
  const parsed = result.value;
  allIssues.push(...findingIssues(document, serverRules(parsed)));
  allIssues.push(
    ...referencedFileIssues(document, ["restic", "password_file"], parsed.restic.password_file),
    ...referencedFileIssues(
      document,
      ["global", "mail", "smtp", "password_file"],
      parsed.global.mail.smtp.password_file,
    ),
    ...referencedFileIssues(
      document,
      ["global", "known_hosts_file"],
      parsed.global.known_hosts_file,
      "protected",
    ),
  );
  parsed.hosts.forEach((host, index) => {
    allIssues.push(
      ...referencedFileIssues(document, ["hosts", index, "ssh_key_file"], host.ssh_key_file),
      ...referencedFileIssues(document, ["hosts", index, "password_file"], host.password_file),
      ...referencedFileIssues(
        document,
        ["hosts", index, "known_hosts_file"],
        host.known_hosts_file,
        "protected",
      ),
    );
  });
  const sorted = sortIssues(allIssues);
  if (hasErrors(sorted)) return { issues: sorted };
  return { value: resolveServerConfig(parsed), issues: sorted };
}
