// Secrets of the dump tasks (database passwords, the InfluxDB token): read from files only root (or
// the invoking user) can read, handed to a tool through a private temporary file or the environment,
// never through argv, and registered so the log replaces them by "***".

import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
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
  // mkdtemp creates the directory 0700, so the file written into it is private before it has content;
  // the pid in the name lets a later run remove what a killed one left (removeStaleSecretDirectories)
  const directory = await mkdtemp(join(tmpdir(), `${secretDirectoryPrefix}${process.pid}-`));
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

const secretDirectoryPrefix = "backupctl-secret-";

/** Returns whether a process with this pid exists. */
function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}

/** Removes secret directories left in the temp dir by runs that were killed (SIGKILL cannot clean up); returns how many. */
export async function removeStaleSecretDirectories(logger: Logger): Promise<number> {
  let removed = 0;
  for (const name of await readdir(tmpdir())) {
    const match = new RegExp(`^${secretDirectoryPrefix}(\\d+)-`).exec(name);
    if (!match || isProcessAlive(Number(match[1]))) continue;
    await rm(join(tmpdir(), name), { recursive: true, force: true });
    logger.warn(
      `Removed "${join(tmpdir(), name)}", a secret file directory left by a killed run (pid ${match[1]})`,
    );
    removed++;
  }
  return removed;
}

/** Creates a file with mode 0600 that must not exist yet and writes text into it. */
export async function writeSecretFile(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600, flag: "wx" });
}
