// The stages' door to their configuration: warnings are logged, and any error stops the command
// with exit 2 and every problem listed, before anything is touched.

import { BackupError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { formatIssue, hasErrors, type LoadResult } from "./issues.ts";

/** Returns the loaded value. Throws a usage BackupError listing every error when there is one. */
export function requireValidConfig<T>(
  loaded: LoadResult<T>,
  options: { kind: "client" | "server"; configDir: string; logger: Logger },
): T {
  for (const issue of loaded.issues)
    if (issue.severity === "warning") options.logger.warn(formatIssue(issue));
  if (hasErrors(loaded.issues) || loaded.value === undefined) {
    const errors = loaded.issues.filter((issue) => issue.severity === "error").map(formatIssue);
    throw new BackupError(
      `The ${options.kind} configuration in "${options.configDir}" is invalid:\n  ${errors.join("\n  ")}`,
      {
        code: "usage",
        hint: `run: backupctl config validate --${options.kind} --config-dir ${options.configDir}`,
      },
    );
  }
  return loaded.value;
}
