// Helpers for end-to-end tests: run the compiled dist/backupctl (built by scripts/check or scripts/build).

import { existsSync } from "node:fs";
import path from "node:path";

export const binaryPath = path.resolve(import.meta.dir, "../../dist/backupctl");

/** The outcome of one run of the binary. */
export interface BinaryResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs dist/backupctl with args; throws when the binary has not been built. */
export async function runBinary(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; binary?: string } = {},
): Promise<BinaryResult> {
  const binary = options.binary ?? binaryPath;
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run scripts/build first`);
  const child = Bun.spawn([binary, ...args], {
    cwd: options.cwd,
    env: options.env ?? { ...process.env, JOURNAL_STREAM: "" },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { exitCode, stdout, stderr };
}
