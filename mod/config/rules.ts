// Cross-field checks that a schema of one object cannot express, as small named rules: each reads a
// validated config and returns findings at key paths, which the loader turns into located issues.

import type { ClientConfig } from "./client.ts";
import type { KeyPath } from "./issues.ts";
import { keepKeys, type RetentionPolicy } from "./maintenance.ts";
import { type ParsedServerConfig, repositoryOf } from "./server.ts";
import type { ServiceTask } from "./service.ts";

/** What a rule found, at a key path of the file it checked. */
export interface RuleFinding {
  severity: "error" | "warning";
  path: KeyPath;
  message: string;
  hint?: string;
}

/** A host name appears once in hosts[]. */
export function duplicateHostNames(config: ParsedServerConfig): RuleFinding[] {
  const firstIndex = new Map<string, number>();
  const findings: RuleFinding[] = [];
  config.hosts.forEach((host, index) => {
    const first = firstIndex.get(host.hostname);
    if (first === undefined) firstIndex.set(host.hostname, index);
    else {
      findings.push({
        severity: "error",
        path: ["hosts", index, "hostname"],
        message: `host "${host.hostname}" is already listed as hosts[${first}]`,
        hint: "list each host once",
      });
    }
  });
  return findings;
}

/** Every host has a repository: restic.repository_root, or its own repository. */
export function repositoryForEveryHost(config: ParsedServerConfig): RuleFinding[] {
  return config.hosts.flatMap((host, index): RuleFinding[] =>
    repositoryOf(config.restic, host) === undefined
      ? [
          {
            severity: "error",
            path: ["hosts", index],
            message: `host "${host.hostname}" has no repository`,
            hint: `set restic.repository_root, or repository for this host`,
          },
        ]
      : [],
  );
}

/** No two hosts write into one repository (per-repository locks and retention assume one host each). */
export function oneRepositoryPerHost(config: ParsedServerConfig): RuleFinding[] {
  const owners = new Map<string, string>();
  const findings: RuleFinding[] = [];
  config.hosts.forEach((host, index) => {
    const repository = repositoryOf(config.restic, host);
    if (repository === undefined) return;
    const owner = owners.get(repository);
    if (owner !== undefined && owner !== host.hostname) {
      findings.push({
        severity: "error",
        path: ["hosts", index, "repository"],
        message: `host "${host.hostname}" uses repository "${repository}", which is host "${owner}"'s`,
        hint: "give each host a repository of its own",
      });
    } else owners.set(repository, host.hostname);
  });
  return findings;
}

/** A retention policy is written either as keep_* keys or as forget_options, not both. */
export function oneRetentionNotation(policy: Partial<RetentionPolicy>, path: KeyPath): RuleFinding[] {
  const keepKeysSet = keepKeys.filter((key) => policy[key] !== undefined);
  if (policy.forget_options === undefined || keepKeysSet.length === 0) return [];
  return [
    {
      severity: "error",
      path: [...path, "forget_options"],
      message: `forget_options and ${keepKeysSet.join(", ")} are both set`,
      hint: "write the policy as keep_* keys only",
    },
  ];
}

/** forget_options holds only the policy: prune and dry-run are decided elsewhere. */
export function policyOptionsOnly(policy: Partial<RetentionPolicy>, path: KeyPath): RuleFinding[] {
  const controlled = (policy.forget_options ?? []).filter((word) => /^--(prune|dry-run)\b/.test(word));
  return controlled.map((word) => ({
    severity: "warning",
    path: [...path, "forget_options"],
    message: `"${word}" in forget_options is ignored`,
    hint: word.startsWith("--prune") ? "use prune: true or false" : "use backupctl maintain --dry-run",
  }));
}

/** All server rules. */
export function serverRules(config: ParsedServerConfig): RuleFinding[] {
  const maintenancePath = ["restic", "maintenance"];
  const findings = [
    ...duplicateHostNames(config),
    ...repositoryForEveryHost(config),
    ...oneRepositoryPerHost(config),
    ...oneRetentionNotation(config.restic.maintenance, maintenancePath),
    ...policyOptionsOnly(config.restic.maintenance, maintenancePath),
    ...adminEmailSet(config.global.admin_email, ["global", "admin_email"]),
  ];
  config.hosts.forEach((host, index) => {
    if (!host.maintenance) return;
    const path = ["hosts", index, "maintenance"];
    findings.push(
      ...oneRetentionNotation(host.maintenance, path),
      ...policyOptionsOnly(host.maintenance, path),
    );
  });
  return findings;
}

/** A mail recipient is configured, or nobody hears of failures. */
export function adminEmailSet(addresses: readonly string[] | undefined, path: KeyPath): RuleFinding[] {
  if (addresses && addresses.length > 0) return [];
  return [
    {
      severity: "warning",
      path,
      message: "no admin_email is set: failures will only be logged, not mailed",
      hint: "set admin_email here or in common_config.yml",
    },
  ];
}

/** All client rules. */
export function clientRules(config: ClientConfig): RuleFinding[] {
  return adminEmailSet(config.admin_email, ["admin_email"]);
}

/** A dump with `container` runs through the compose stack of the same service file's docker task. */
export function containerNeedsDockerTask(
  tasks: readonly ServiceTask[],
  taskKeys: readonly string[],
): RuleFinding[] {
  const hasDocker = taskKeys.includes("docker");
  return tasks.flatMap((task): RuleFinding[] => {
    if (!task.isBuiltin || hasDocker) return [];
    if (
      (task.key === "postgresql" || task.key === "mariadb" || task.key === "mysql") &&
      task.options.container
    ) {
      return [
        {
          severity: "error",
          path: [task.key, "container"],
          message: `container "${task.options.container}" needs a docker task in the same service file`,
          hint: "add a docker block with the stack's compose_file, or remove container",
        },
      ];
    }
    return [];
  });
}

/** pg_dumpall writes plain SQL only. */
export function dumpAllIsPlain(tasks: readonly ServiceTask[]): RuleFinding[] {
  return tasks.flatMap((task): RuleFinding[] =>
    task.isBuiltin &&
    task.key === "postgresql" &&
    task.options.database === "all" &&
    task.options.format === "custom"
      ? [
          {
            severity: "error",
            path: ["postgresql", "format"],
            message: 'database "all" is dumped with pg_dumpall, which writes plain SQL only',
            hint: "use format: plain, or name one database",
          },
        ]
      : [],
  );
}

/** A service file has something to back up. */
export function hasTasks(taskKeys: readonly string[]): RuleFinding[] {
  if (taskKeys.length > 0) return [];
  return [
    {
      severity: "warning",
      path: [],
      message: "the service has no tasks and backs up nothing but its own service file",
      hint: "add a task block such as files, postgresql or docker",
    },
  ];
}

/** All rules of one service file, given its valid tasks and every task key it holds. */
export function serviceRules(tasks: readonly ServiceTask[], taskKeys: readonly string[]): RuleFinding[] {
  return [...containerNeedsDockerTask(tasks, taskKeys), ...dumpAllIsPlain(tasks), ...hasTasks(taskKeys)];
}
