// Loading of common_config.yml, client_config.yml and server_config.yml: read with positions, check
// permissions, rewrite old key names, merge the common defaults, validate, apply the rules.

import { existsSync } from "node:fs";
import path from "node:path";
import { clientAliases, commonAliases, type KeyAlias, serverAliases } from "./aliases.ts";
import {
  configFilePermissionIssues,
  findingIssues,
  prepareDocument,
  referencedFileIssues,
  validatePrepared,
} from "./checks.ts";
import { type ClientConfig, clientConfigSchema } from "./client.ts";
import { type CommonConfig, commonConfigSchema } from "./common.ts";
import { type ConfigDocument, fileIssue, isMapping, readYamlDocument } from "./document.ts";
import { inheritCommonValues } from "./inherit.ts";
import { type ConfigIssue, hasErrors, type KeyPath, type LoadResult, sortIssues } from "./issues.ts";
import { readLegacyCommonConfig } from "./legacy.ts";
import { clientRules, serverRules } from "./rules.ts";
import { resolveServerConfig, type ServerConfig, serverConfigSchema } from "./server.ts";

/** File names inside the config directory. */
export const configFileNames = {
  common: "common_config.yml",
  legacyCommon: "common_config",
  client: "client_config.yml",
  server: "server_config.yml",
} as const;

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
