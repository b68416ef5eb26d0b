// Where service files are: `<config dir>/<type>/<name>/service.yaml|yml`, found in sorted order,
// and where external plugins are: an executable named after its task key in plugin_dir.

import { accessSync, constants, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { BackupError } from "../lib/errors.ts";
import { fileIssue } from "./document.ts";
import type { ConfigIssue } from "./issues.ts";

/** The names a service file may have. */
export const serviceFileNames = ["service.yaml", "service.yml"] as const;

/** Returns the sorted entries of a directory that are directories themselves (symlinks followed), hidden ones left out. */
function subdirectories(directory: string): string[] {
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch {
    return [];
  }
  return names
    .filter((name) => !name.startsWith("."))
    .filter((name) => {
      try {
        return statSync(path.join(directory, name)).isDirectory();
      } catch {
        return false;
      }
    })
    .sort();
}

/** Returns whether a path is a regular file (symlinks followed). */
function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Finds the service files of a config dir, sorted, with the problems of the layout (both names in one dir, misplaced files). */
export function discoverServiceFiles(configDirectory: string): { files: string[]; issues: ConfigIssue[] } {
  const files: string[] = [];
  const issues: ConfigIssue[] = [];
  for (const type of subdirectories(configDirectory)) {
    const typeDirectory = path.join(configDirectory, type);
    for (const misplaced of serviceFileNames.map((name) => path.join(typeDirectory, name)).filter(isFile)) {
      issues.push(
        fileIssue(misplaced, {
          severity: "warning",
          message: "ignored: service files belong at <type>/<name>/service.yaml",
          hint: `move it to ${path.join(typeDirectory, "<name>", "service.yaml")}`,
        }),
      );
    }
    for (const name of subdirectories(typeDirectory)) {
      const present = serviceFileNames.map((file) => path.join(typeDirectory, name, file)).filter(isFile);
      if (present.length > 1) {
        issues.push(
          fileIssue(present[0] as string, {
            message: `both service.yaml and service.yml exist in "${path.join(typeDirectory, name)}"`,
            hint: "keep one of them",
          }),
        );
      } else if (present[0]) files.push(present[0]);
    }
  }
  return { files, issues };
}

/** Returns the service files `<configDir>/<type>/<name>/service.yaml|yml`, sorted. Throws BackupError (usage) when a directory holds both service.yaml and service.yml. */
export function findServiceFiles(configDirectory: string): string[] {
  const { files, issues } = discoverServiceFiles(configDirectory);
  const conflict = issues.find((issue) => issue.severity === "error");
  if (conflict)
    throw new BackupError(`Cannot read the services of "${configDirectory}": ${conflict.message}`, {
      code: "usage",
      hint: conflict.hint,
    });
  return files;
}

/** Returns whether an external plugin of this name exists in the plugin dir and can be run. */
export function hasExternalPlugin(pluginDir: string, key: string): boolean {
  const file = path.join(pluginDir, key);
  if (!isFile(file)) return false;
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
