// Secrets of the dump tasks (database passwords, the InfluxDB token): read from files only root (or
// the invoking user) can read, handed to a tool through a private temporary file or the environment,
// never through argv, and registered so the log replaces them by "***".

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertPrivateFile } from "../mod/config/permissions.ts";
import { BackupError, errorMessage } from "../mod/lib/errors.ts";
import { type Logger, registerSecret } from "../mod/lib/log.ts";

/** Reads a secret from the first line of a file. Throws BackupError when the file is open to other users, unreadable or empty. */
export async function readSecretFile(file: string, what: string): Promise<string> {
  assertPrivateFile(file);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new BackupError(`Cannot read the ${what} file "${file}": ${errorMessage(error)}`, { cause: error });
  }
  const secret = text.split("\n")[0]?.replace(/\r$/, "") ?? "";
  if (secret === "") {
    throw new BackupError(`Cannot use the ${what} file "${file}": its first line is empty`, {
      hint: `write the ${what} on the first line`,
    });
  }
  registerSecret(secret);
  return secret;
}

/** Runs use with a fresh directory (mode 0700) under the system temp dir and removes it afterwards, also when use throws. */
export async function withPrivateTempDir<T>(
  logger: Logger,
  use: (directory: string) => Promise<T>,
): Promise<T> {
  // mkdtemp creates the directory 0700, so the file written into it is private before it has content
  const directory = await mkdtemp(join(tmpdir(), "backupctl-secret-"));
  try {
    return await use(directory);
  } finally {
    try {
      await rm(directory, { recursive: true, force: true });
    } catch (error) {
      logger.error(`Cannot remove the temporary secret directory "${directory}": ${errorMessage(error)}`);
    }
  }
}

/** Creates a file with mode 0600 that must not exist yet and writes text into it. */
export async function writeSecretFile(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600, flag: "wx" });
}
