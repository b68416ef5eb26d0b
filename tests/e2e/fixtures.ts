// Config directories for end-to-end tests: real files with the modes backupctl demands (0600).

import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { stringify } from "yaml";

/** Writes a config file (creating its directory) with mode 0600 and returns its path. */
export function writeConfigFile(configDir: string, relativePath: string, content: unknown): string {
  const path = join(configDir, relativePath);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, typeof content === "string" ? content : stringify(content), { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/** Writes `<type>/<name>/service.yaml` with `service: {name}` and the given task blocks. */
export function writeService(
  configDir: string,
  type: string,
  name: string,
  tasks: Record<string, unknown>,
): string {
  return writeConfigFile(configDir, `${type}/${name}/service.yaml`, { service: { name }, ...tasks });
}

/** Runs a command synchronously and returns its stdout; throws with stderr on failure. */
export function runSync(
  argv: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): string {
  const result = Bun.spawnSync(argv, { env: { ...process.env, ...options.env }, cwd: options.cwd });
  if (result.exitCode !== 0)
    throw new Error(`${argv.join(" ")} exited ${result.exitCode}: ${result.stderr.toString()}`);
  return result.stdout.toString();
}

/** Lists a directory tree as sorted "path mode size mtime" lines, for before/after comparisons. */
export function snapshotTree(root: string): string[] {
  const output = runSync(["find", root, "-printf", "%P %m %s %T@ %y\\n"]);
  return output.split("\n").filter(Boolean).sort();
}
