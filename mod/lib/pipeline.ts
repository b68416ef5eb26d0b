// Multi-process pipelines (`tar -c | zstd`, `zstd -dc | tar -t`) whose stages are joined by kernel
// pipes, so no byte passes through JavaScript. Part of the exec concern: argv only, each stage in its
// own process group, aborts and timeouts end every group, failures name the stage and its stderr tail.

import { closeSync, constants, fchmodSync, openSync } from "node:fs";
import { BackupError, errorMessage } from "./errors.ts";
import { CommandError, quoteArgv, type RunResult, which } from "./exec.ts";
import { type Logger, log, redact } from "./log.ts";
import { clipLine, createLineSplitter, keepTail } from "./output-lines.ts";
import { registerChildGroup, terminateGroup, unregisterChildGroup } from "./signals.ts";

/** How a pipeline runs. */
export interface PipelineOptions {
  /** The last stage's stdout goes to this file (created or truncated with mode, default 0600). */
  stdoutFile?: { path: string; mode?: number };
  cwd?: string;
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
  timeoutMs?: number;
  killGraceMs?: number;
  logger?: Logger;
  description?: string;
  isDryRun?: boolean;
  /** Exit codes that count as success, per stage by index (default [0] for every stage). */
  okExitCodes?: number[][];
}

const tailLines = 20;

/** Collects the last lines of a stage's stderr and logs each at debug. */
async function drainStderr(
  stream: ReadableStream<Uint8Array>,
  tail: string[],
  logger: Logger,
): Promise<void> {
  const splitter = createLineSplitter((line) => {
    const text = clipLine(redact(line));
    keepTail(tail, text, tailLines);
    logger.debug(text);
  });
  for await (const chunk of stream) splitter.push(chunk);
  splitter.flush();
}

/** Opens the pipeline's output file. Throws BackupError when it cannot. */
function openOutput(target: { path: string; mode?: number }): number {
  const mode = target.mode ?? 0o600;
  try {
    const fd = openSync(
      target.path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
      mode,
    );
    fchmodSync(fd, mode);
    return fd;
  } catch (error) {
    throw new BackupError(`Cannot open output file "${target.path}": ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/** Returns whether a stage failed only because the next stage had gone (SIGPIPE, EPIPE, a reset socket). */
function isPipeCasualty(result: RunResult): boolean {
  return (
    result.signal === "SIGPIPE" ||
    result.stderrTail.some((line) => /Broken pipe|Connection reset by peer|EPIPE/i.test(line))
  );
}

/** Runs the stages joined by pipes and waits for all. Throws CommandError naming the first stage that failed for a reason of its own. */
export async function runPipeline(stages: string[][], options: PipelineOptions = {}): Promise<RunResult[]> {
  const logger = options.logger ?? log;
  const display = redact(stages.map((argv) => quoteArgv(argv)).join(" | "));
  const outputNote = options.stdoutFile ? ` > ${options.stdoutFile.path}` : "";
  if (options.isDryRun) {
    logger.info(`would run: ${display}${outputNote}`);
    return stages.map((argv) => ({
      argv,
      exitCode: null,
      signal: null,
      stderrTail: [],
      durationMs: 0,
      skipped: true,
    }));
  }
  if (options.signal?.aborted) throw new BackupError(`Pipeline "${display}" was aborted before it started`);
  logger.debug(`run: ${display}${outputNote}`);
  const env = { ...process.env, ...options.env };
  const startedAt = performance.now();
  const outputFd = options.stdoutFile ? openOutput(options.stdoutFile) : undefined;
  const processes: Bun.Subprocess<"pipe" | "ignore", "pipe" | number | "ignore", "pipe">[] = [];
  const tails: string[][] = [];
  const drains: Promise<void>[] = [];
  let failure: string | undefined;

  const killAll = (reason: string) => {
    failure ??= reason;
    for (const child of processes) void terminateGroup(child.pid, { graceMs: options.killGraceMs ?? 5000 });
  };
  const onAbort = () => killAll("was aborted");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const timer = options.timeoutMs
    ? setTimeout(
        () => killAll(`timed out after ${Math.round((options.timeoutMs ?? 0) / 1000)} s`),
        options.timeoutMs,
      )
    : undefined;

  try {
    for (const [index, argv] of stages.entries()) {
      const program = argv[0];
      const executable = program ? which(program, env.PATH ?? "") : undefined;
      if (!program || !executable) {
        killAll("could not start");
        throw new CommandError(
          `Command "${redact(quoteArgv(argv))}" cannot start: "${program}" not found in PATH`,
          {
            result: { argv, exitCode: null, signal: null, stderrTail: [], durationMs: 0, skipped: false },
            failure: "spawn",
          },
        );
      }
      const previous = processes[index - 1];
      const isLast = index === stages.length - 1;
      const child = Bun.spawn([executable, ...argv.slice(1)], {
        argv0: program,
        cwd: options.cwd,
        env,
        stdin: previous ? (previous.stdout as ReadableStream<Uint8Array>) : "ignore",
        stdout: isLast ? (outputFd ?? "ignore") : "pipe",
        stderr: "pipe",
        detached: true,
      }) as Bun.Subprocess<"pipe" | "ignore", "pipe" | number | "ignore", "pipe">;
      registerChildGroup(child.pid);
      processes.push(child);
      const tail: string[] = [];
      tails.push(tail);
      drains.push(drainStderr(child.stderr, tail, logger.child(program.split("/").pop() ?? program)));
    }
  } finally {
    if (outputFd !== undefined) closeSync(outputFd);
  }

  try {
    const exits = await Promise.all(processes.map((child) => child.exited));
    await Promise.all(drains);
    const durationMs = Math.round(performance.now() - startedAt);
    const results: RunResult[] = processes.map((child, index) => ({
      argv: stages[index] ?? [],
      exitCode: exits[index] ?? null,
      signal: (child.signalCode as NodeJS.Signals | null) ?? null,
      stderrTail: tails[index] ?? [],
      durationMs,
      skipped: false,
    }));
    // a stage that died of its neighbour's death (a write into a closed pipe) is not the cause: when the
    // compressor hits ENOSPC, tar only sees "Broken pipe" (Bun joins stages with sockets: "Connection reset")
    const failed = results.filter(
      (result, index) => !(options.okExitCodes?.[index] ?? [0]).includes(result.exitCode ?? -1),
    );
    const cause = failed.find((result) => !isPipeCasualty(result)) ?? failed[0];
    if (failure || cause) {
      const result = cause ?? (results[0] as RunResult);
      const reason =
        failure ??
        (result.signal ? `was killed by ${result.signal}` : `failed with exit code ${result.exitCode}`);
      const tail = result.stderrTail.filter((line) => line.trim() !== "").slice(-5);
      const described = options.description ? ` (${options.description})` : "";
      throw new CommandError(
        `Command "${redact(quoteArgv(result.argv))}"${described} ${reason}${tail.length ? `: ${tail.join("\n")}` : ""}`,
        { result, failure: failure ? (options.signal?.aborted ? "abort" : "timeout") : "exit-code" },
      );
    }
    return results;
  } finally {
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    for (const child of processes) unregisterChildGroup(child.pid);
  }
}
