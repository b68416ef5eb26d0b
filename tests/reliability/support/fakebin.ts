// Small executables for fault injection (the catalogue's H2): wrappers that slow a real tool down,
// fail on the Nth call, or log their argv, placed in a test's own directory and named in the
// config's tools.* so the product runs them instead of the real tool.

import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Writes an executable shell script and returns its path. */
export function writeExecutable(directory: string, name: string, script: string): string {
  mkdirSync(directory, { recursive: true });
  const path = join(directory, name);
  writeFileSync(path, script.startsWith("#!") ? script : `#!/bin/bash\n${script}`, { mode: 0o755 });
  chmodSync(path, 0o755);
  return path;
}

/** Returns a shell word for a value (single-quoted). */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * Writes a wrapper that appends its argv (one NUL-separated record per call) to callLog, touches
 * startedMarker when given, sleeps delaySeconds, then runs the real program with the same argv.
 */
export function writeSlowWrapper(
  directory: string,
  name: string,
  options: { realProgram: string[]; delaySeconds: number; callLog?: string; startedMarker?: string },
): string {
  const log = options.callLog
    ? `printf '%s\\0' "$@" >> ${shellQuote(options.callLog)}; printf '\\n' >> ${shellQuote(options.callLog)}\n`
    : "";
  const marker = options.startedMarker ? `touch ${shellQuote(options.startedMarker)}\n` : "";
  return writeExecutable(
    directory,
    name,
    `${log}${marker}sleep ${options.delaySeconds}\nexec ${options.realProgram.map(shellQuote).join(" ")} "$@"\n`,
  );
}

/** Reads a call log written by a wrapper: one argv per call. */
export function readCallLog(text: string): string[][] {
  return text
    .split("\0\n")
    .filter((record) => record !== "")
    .map((record) => record.split("\0").filter((_, index, all) => index < all.length));
}
