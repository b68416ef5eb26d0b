// Process-wide shutdown request: main.ts turns SIGINT/SIGTERM into an aborted signal that every
// stage passes down to its commands, so stopped services are resumed and locks released in finally paths.

import { ExitCode } from "./errors.ts";

const controller = new AbortController();
let receivedSignal: "SIGINT" | "SIGTERM" | undefined;

/** Aborted once SIGINT or SIGTERM has been received. */
export const shutdownSignal: AbortSignal = controller.signal;

/** Records that a termination signal arrived and aborts the shutdown signal. */
export function requestShutdown(signal: "SIGINT" | "SIGTERM"): void {
  receivedSignal ??= signal;
  controller.abort(new Error(`interrupted by ${signal}`));
}

/** Returns the signal that requested shutdown, if any. */
export function shutdownRequestedBy(): "SIGINT" | "SIGTERM" | undefined {
  return receivedSignal;
}

/** Returns the exit status for an interrupted run: 130 for SIGINT, 143 for SIGTERM. */
export function interruptedExitCode(): number | undefined {
  if (receivedSignal === "SIGINT") return ExitCode.interrupted;
  if (receivedSignal === "SIGTERM") return ExitCode.terminated;
  return undefined;
}
