// Entry point of the backupctl binary: runs the CLI, maps errors to exit statuses, and turns
// SIGINT/SIGTERM into a shutdown request so every stage can undo what it stopped or locked.

import { runCli } from "./mod/cli.ts";
import { BackupError, ExitCode } from "./mod/lib/errors.ts";
import { terminateAllChildren } from "./mod/lib/exec.ts";
import { log } from "./mod/lib/log.ts";
import { interruptedExitCode, requestShutdown, shutdownRequestedBy } from "./mod/lib/shutdown.ts";

/** First signal: ask the running stage to stop and clean up. Second signal: stop now. */
function handleSignal(signal: "SIGINT" | "SIGTERM"): void {
  if (shutdownRequestedBy()) {
    log.warn(`Received ${signal} again: terminating child processes and exiting now`);
    terminateAllChildren("SIGKILL");
    process.exit(signal === "SIGINT" ? ExitCode.interrupted : ExitCode.terminated);
  }
  log.warn(`Received ${signal}: stopping after cleanup (send it again to stop at once)`);
  requestShutdown(signal);
  terminateAllChildren("SIGTERM");
}

/** Runs the program and returns the exit status. */
async function main(): Promise<number> {
  process.on("SIGINT", () => handleSignal("SIGINT"));
  process.on("SIGTERM", () => handleSignal("SIGTERM"));
  try {
    const code = await runCli(process.argv.slice(2), { stdout: (text) => process.stdout.write(text) });
    return interruptedExitCode() ?? code;
  } catch (error) {
    if (error instanceof BackupError) {
      log.error(error.hint ? `${error.message}\n  hint: ${error.hint}` : error.message);
      return interruptedExitCode() ?? error.exitCode;
    }
    log.error(
      `Unexpected internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    return interruptedExitCode() ?? ExitCode.failed;
  }
}

const exitCode = await main();
// let buffered results reach a pipe before the process ends
await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
process.exit(exitCode);
