// What the dump tasks share about their output files: a database name made safe as a file name, the
// tail of a dump read to find its end marker, and partial output removed so it never reaches an archive.

import { open, rm } from "node:fs/promises";
import { errorMessage } from "../mod/lib/errors.ts";
import type { Logger } from "../mod/lib/log.ts";

/** Returns name as one safe file name: bytes outside [A-Za-z0-9_.-] and a leading "." become %XX. */
export function safeFileName(name: string): string {
  let result = "";
  for (const byte of new TextEncoder().encode(name)) {
    const character = String.fromCharCode(byte);
    const isPlain = /^[A-Za-z0-9_.-]$/.test(character) && !(character === "." && result === "");
    result += isPlain ? character : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return result;
}

/** Returns the last bytes of a file (at most byteCount) as text. */
export async function readFileTail(file: string, byteCount = 4096): Promise<string> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, byteCount);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString("utf8");
  } finally {
    await handle.close();
  }
}

/** Returns the non-empty lines of text, trailing whitespace removed. */
export function nonEmptyLines(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line !== "");
}

/** Removes a dump file or directory that does not count; a failure to remove it is logged, never thrown. */
export async function removePartialOutput(path: string, logger: Logger): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (error) {
    logger.error(`Cannot remove the incomplete output "${path}": ${errorMessage(error)}`);
  }
}
