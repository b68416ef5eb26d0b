// Fixtures of the config tests: config dirs written into fresh temp dirs (files 0600, as the
// permission checks demand), the example configs copied the same way, and captured command output.

import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setLogSink } from "../../../mod/lib/log.ts";

const temporaryDirectories: string[] = [];

/** Removes every temp dir the fixtures made (call from afterEach/afterAll). */
export function removeTemporaryDirectories(): void {
  for (const directory of temporaryDirectories.splice(0)) rmSync(directory, { recursive: true, force: true });
}

/** Returns a fresh empty temp dir (0700), removed by removeTemporaryDirectories. */
export function makeTemporaryDirectory(): string {
  const directory = mkdtempSync(path.join(tmpdir(), "backupctl-config-"));
  chmodSync(directory, 0o700);
  temporaryDirectories.push(directory);
  return directory;
}

/** Removes the common leading indentation of a template literal and its first empty line. */
export function dedent(text: string): string {
  const lines = text.replace(/^\n/, "").split("\n");
  const indents = lines.filter((line) => line.trim() !== "").map((line) => /^ */.exec(line)?.[0].length ?? 0);
  const indent = Math.min(...indents, Number.POSITIVE_INFINITY);
  return lines.map((line) => line.slice(Number.isFinite(indent) ? indent : 0)).join("\n");
}

/** Writes files (relative path → YAML text, dedented) into a fresh config dir with mode 0600. */
export function writeConfigDirectory(
  files: Record<string, string>,
  directory = makeTemporaryDirectory(),
): string {
  for (const [relative, text] of Object.entries(files)) {
    const file = path.join(directory, relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, dedent(text));
    chmodSync(file, 0o600);
  }
  return directory;
}

/** Sets every file under a directory to a mode. */
export function chmodFiles(directory: string, mode: number): void {
  for (const entry of readdirSync(directory)) {
    const child = path.join(directory, entry);
    if (statSync(child).isDirectory()) chmodFiles(child, mode);
    else chmodSync(child, mode);
  }
}

/** Copies the example configs of the repository into a fresh temp dir, files chmod 600 as installed. */
export function copyExampleConfigs(): string {
  const directory = makeTemporaryDirectory();
  cpSync(path.join(import.meta.dir, "../../../configs"), directory, { recursive: true });
  chmodFiles(directory, 0o600);
  return directory;
}

/** An output that records what a command writes to stdout. */
export function captureOutput(): { stdout(text: string): void; text(): string } {
  let written = "";
  return {
    stdout(text: string) {
      written += text;
    },
    text: () => written,
  };
}

/** Silences the logger for a test file and returns the captured lines. */
export function captureLog(): string[] {
  const lines: string[] = [];
  setLogSink({ write: (line) => lines.push(line) }, { isJournal: false });
  return lines;
}
