// The only place backupctl starts processes: argv arrays, never a shell; stderr streamed to the log
// with its tail kept for the error; timeouts and aborts end the child's whole process group; secrets
// redacted from every logged or thrown text; one dry-run gate.

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { Readable, Writable } from "node:stream";
import { BackupError, errnoCode, errorMessage } from "./errors.ts";
import { isDirectory, openForWriting, which } from "./fs.ts";
import { type Logger, type LogLevel, log, redact } from "./log.ts";
import { clipLine, createLineSplitter, keepTail } from "./output-lines.ts";
import { registerChildGroup, terminateGroup, unregisterChildGroup } from "./signals.ts";
import { formatDuration } from "./time.ts";

export { which } from "./fs.ts";
export { liveChildCount, terminateAllChildren } from "./signals.ts";

/** Where a child's stdout goes: kept as a string, logged, a file, dropped, a stream, or one call per line. */
export type StdoutTarget = "capture" | "log" | "ignore" | StdoutFile | Writable | ((line: string) => void);

/** A file that receives stdout, created (or truncated) with mode (default 0o600). */
export interface StdoutFile {
  file: string;
  mode?: number;
}

/** Options shared by run() and spawnStream(). */
export interface CommandOptions {
  cwd?: string;
  /** Added to (or, with undefined, removed from) the inherited environment. Only names are logged. */
  env?: Record<string, string | undefined>;
  /** false: the child gets only `env` (default true). */
  shouldInheritEnv?: boolean;
  /** End the process group when the command runs longer (milliseconds). */
  timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL when ending the group (default 5000 ms). */
  killGraceMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
  /** Exit codes that count as success (default [0]). */
  okExitCodes?: readonly number[];
  /** Values replaced by "***" in every logged or thrown text, besides the registered secrets. */
  secrets?: readonly string[];
  /** Log "would run: …" and start nothing. */
  isDryRun?: boolean;
  /** What the command does, for messages ("dump database app"). */
  description?: string;
  /** Level at which stderr lines are logged (default "debug"). */
  stderrLevel?: LogLevel;
  /** Limit of stdout kept with "capture" (default 16 MiB); more fails the command. */
  maxCaptureBytes?: number;
}

/** Options of run(). */
export interface RunOptions extends CommandOptions {
  /** Fed to stdin, which is otherwise /dev/null. */
  input?: string | Uint8Array | Readable;
  /** Default "log". */
  stdout?: StdoutTarget;
}

/** Options of spawnStream(): "pipe" exposes stdin or stdout on the handle. */
export interface StreamOptions extends CommandOptions {
  /** Default "ignore" (/dev/null). */
  stdin?: "pipe" | "ignore" | string | Uint8Array | Readable;
  /** Default "pipe". */
  stdout?: "pipe" | StdoutTarget;
}

/** The outcome of a command, the same shape for success and (as CommandError.result) failure. */
export interface RunResult {
  argv: string[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** With stdout "capture". */
  stdout?: string;
  /** The last lines of stderr, secrets redacted. */
  stderrTail: string[];
  durationMs: number;
  /** true when dry-run skipped the command. */
  skipped: boolean;
}

/** Why a command failed. */
export type CommandFailure = "exit-code" | "signal" | "timeout" | "abort" | "spawn" | "input" | "output";

/** A command that failed; a BackupError whose message names the command, the reason and the stderr tail. */
export class CommandError extends BackupError {
  readonly result: RunResult;
  readonly failure: CommandFailure;

  constructor(message: string, options: { result: RunResult; failure: CommandFailure; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "CommandError";
    this.result = options.result;
    this.failure = options.failure;
  }
}

/** A started command: streams for a pipeline, its result, and a way to stop it. */
export interface CommandHandle {
  readonly argv: string[];
  readonly pid: number | undefined;
  /** With stdin "pipe". */
  readonly stdin: Writable | undefined;
  /** With stdout "pipe". */
  readonly stdout: Readable | undefined;
  /** Resolves with the result; rejects with CommandError as run() does. */
  wait(): Promise<RunResult>;
  /** Ends the process group (SIGTERM, then SIGKILL); wait() then rejects as aborted. */
  kill(): void;
}

const stderrTailLines = 20;
const messageTailLines = 5;
// a daemon forked by the command may keep its stdout/stderr open for hours; stop reading after this
const streamCloseGraceMs = 2000;

/** Runs argv to completion. Throws CommandError when it cannot start, exits outside okExitCodes, is killed, times out or is aborted. */
export async function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const { input, stdout, ...rest } = options;
  return await spawnStream(argv, { ...rest, stdin: input ?? "ignore", stdout: stdout ?? "log" }).wait();
}

/** Starts argv, e.g. as one stage of a pipeline, and returns its handle. Throws BackupError when argv is empty or the stdout file cannot be opened. */
export function spawnStream(argv: string[], options: StreamOptions = {}): CommandHandle {
  if (argv.length === 0 || argv[0] === "") throw new BackupError("Cannot run a command: argv is empty");
  const command = describeCommand(argv, options);
  if (options.isDryRun) return skipCommand(command, options);
  return startCommand(command, options);
}

/** Returns argv as one shell-quoted line for display (never for execution). */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quoteArgument).join(" ");
}

/** Returns one argument, single-quoted when it holds anything but plainly safe characters. */
export function quoteArgument(argument: string): string {
  if (argument === "") return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(argument)) return argument;
  return `'${argument.replaceAll("'", `'\\''`)}'`;
}

/** A command as messages show it: its display form, logger and redaction. */
interface CommandDescription {
  argv: string[];
  display: string;
  logger: Logger;
  redactText: (text: string) => string;
  description: string | undefined;
}

/** Returns how one command is shown and redacted. */
function describeCommand(argv: string[], options: CommandOptions): CommandDescription {
  const secrets = (options.secrets ?? []).filter((secret) => secret !== "");
  const redactText = (text: string) => {
    let result = redact(text);
    for (const secret of secrets) result = result.split(secret).join("***");
    return result;
  };
  return {
    argv: [...argv],
    display: redactText(quoteArgv(argv)),
    logger: options.logger ?? log,
    redactText,
    description: options.description === undefined ? undefined : redactText(options.description),
  };
}

/** Formats a failure: `Command "…" (description) failed with exit code 1: <stderr tail>`. */
function formatFailure(command: CommandDescription, reason: string, stderrTail: readonly string[]): string {
  const described = command.description ? ` (${command.description})` : "";
  const tail = stderrTail.filter((line) => line.trim() !== "").slice(-messageTailLines);
  const details = tail.length > 0 ? `: ${tail.join("\n")}` : "";
  return `Command "${command.display}"${described} ${reason}${details}`;
}

/** Returns the handle of a command that dry-run does not start. */
function skipCommand(command: CommandDescription, options: StreamOptions): CommandHandle {
  command.logger.info(`would run: ${command.display}`);
  const result: RunResult = {
    argv: command.argv,
    exitCode: null,
    signal: null,
    ...(options.stdout === "capture" ? { stdout: "" } : {}),
    stderrTail: [],
    durationMs: 0,
    skipped: true,
  };
  const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  return {
    argv: command.argv,
    pid: undefined,
    stdin: options.stdin === "pipe" ? discard : undefined,
    stdout: (options.stdout ?? "pipe") === "pipe" ? Readable.from([]) : undefined,
    wait: () => Promise.resolve(result),
    kill: () => undefined,
  };
}

/** Returns the handle of a command that failed before a process existed. */
function rejectCommand(
  command: CommandDescription,
  reason: string,
  failure: CommandFailure,
  cause?: unknown,
): CommandHandle {
  const result: RunResult = {
    argv: command.argv,
    exitCode: null,
    signal: null,
    stderrTail: [],
    durationMs: 0,
    skipped: false,
  };
  const rejected = Promise.reject(
    new CommandError(formatFailure(command, reason, []), { result, failure, cause }),
  );
  rejected.catch(() => undefined);
  return {
    argv: command.argv,
    pid: undefined,
    stdin: undefined,
    stdout: undefined,
    wait: () => rejected,
    kill: () => undefined,
  };
}

/** Builds the child's environment and the names to log. */
function buildEnvironment(options: CommandOptions): { env: NodeJS.ProcessEnv; names: string[] } {
  const env: NodeJS.ProcessEnv = options.shouldInheritEnv === false ? {} : { ...process.env };
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return { env, names: Object.keys(options.env ?? {}) };
}

/** What one running command accumulates until it ends. */
interface CommandState {
  command: CommandDescription;
  killGraceMs: number;
  pid: number | undefined;
  stderrTail: string[];
  captured: Uint8Array[];
  capturedBytes: number;
  failure: { kind: CommandFailure; reason: string; cause?: unknown } | undefined;
  termination: Promise<boolean> | undefined;
  isDone: boolean;
}

/** Records the first failure and starts ending the process group. */
function failCommand(state: CommandState, kind: CommandFailure, reason: string, cause?: unknown): void {
  if (state.failure || state.isDone) return;
  state.failure = { kind, reason, cause };
  if (state.pid !== undefined) state.termination = terminateGroup(state.pid, { graceMs: state.killGraceMs });
}

/** Spawns the process and wires its streams, timeout and abort. Throws BackupError when the stdout file cannot be opened. */
function startCommand(command: CommandDescription, options: StreamOptions): CommandHandle {
  const { env, names } = buildEnvironment(options);
  const envNote =
    names.length > 0 ? ` (env ${names.join(", ")}${options.shouldInheritEnv === false ? " only" : ""})` : "";
  const cwdNote = options.cwd ? ` in "${options.cwd}"` : "";
  command.logger.debug(command.redactText(`run: ${command.display}${envNote}${cwdNote}`));

  if (options.signal?.aborted) return rejectCommand(command, "was aborted before it started", "abort");
  if (options.cwd !== undefined && !isDirectory(options.cwd)) {
    return rejectCommand(command, `cannot start: working directory "${options.cwd}" does not exist`, "spawn");
  }
  const program = command.argv[0] as string;
  // resolved here, with the child's PATH, for a clear message instead of the runtime's spawn error
  const isRelativePath = program.includes("/") && !isAbsolute(program);
  const lookup = isRelativePath && options.cwd !== undefined ? join(options.cwd, program) : program;
  const executable = which(lookup, env.PATH ?? process.env.PATH ?? "");
  if (executable === undefined) {
    const where = program.includes("/") ? "is not an executable file" : "not found in PATH";
    return rejectCommand(command, `cannot start: "${command.redactText(program)}" ${where}`, "spawn");
  }

  const stdoutTarget = options.stdout ?? "pipe";
  const stdinSource = options.stdin ?? "ignore";
  const stdoutFd = isStdoutFile(stdoutTarget) ? openStdoutFile(stdoutTarget) : undefined;
  const startedAt = performance.now();
  let child: ChildProcess;
  try {
    child = spawn(executable, command.argv.slice(1), {
      argv0: program,
      cwd: options.cwd,
      env,
      stdio: [
        stdinSource === "ignore" ? "ignore" : "pipe",
        stdoutFd ?? (stdoutTarget === "ignore" ? "ignore" : "pipe"),
        "pipe",
      ],
      // its own process group (Bun: its own session): -pid then reaches the tool and all it forks
      detached: true,
      shell: false,
    });
  } catch (error) {
    return rejectCommand(command, `cannot start: ${errorMessage(error)}`, "spawn", error);
  } finally {
    // the child holds its own copy of the descriptor
    if (stdoutFd !== undefined) closeSync(stdoutFd);
  }

  const state: CommandState = {
    command,
    killGraceMs: options.killGraceMs ?? 5000,
    pid: child.pid,
    stderrTail: [],
    captured: [],
    capturedBytes: 0,
    failure: undefined,
    termination: undefined,
    isDone: false,
  };
  if (state.pid !== undefined) registerChildGroup(state.pid);
  const exited = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once("exit", (exitCode, signal) => resolveExit({ exitCode, signal }));
    child.once("error", (error) => {
      failCommand(state, "spawn", `cannot start: ${errorMessage(error)}`, error);
      resolveExit({ exitCode: null, signal: null });
    });
  });

  const ownStreams: Readable[] = [];
  if (child.stderr) {
    collectStderr(child.stderr, state, options.stderrLevel ?? "debug");
    ownStreams.push(child.stderr);
  }
  const exposedStdout = stdoutTarget === "pipe" ? (child.stdout ?? undefined) : undefined;
  if (child.stdout && stdoutTarget !== "pipe" && stdoutTarget !== "ignore" && !isStdoutFile(stdoutTarget)) {
    const maxCaptureBytes = options.maxCaptureBytes ?? 16 * 1024 * 1024;
    routeStdout(child.stdout, stdoutTarget, { state, maxCaptureBytes });
    ownStreams.push(child.stdout);
  }
  const exposedStdin = child.stdin ? feedStdin(child.stdin, stdinSource, state) : undefined;

  const timeoutMs = options.timeoutMs;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(
          () => failCommand(state, "timeout", `timed out after ${formatDuration(timeoutMs)}`),
          timeoutMs,
        );
  const onAbort = () => failCommand(state, "abort", "was aborted");
  options.signal?.addEventListener("abort", onAbort, { once: true });

  const completion = (async (): Promise<RunResult> => {
    const { exitCode, signal } = await exited;
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    await drainStreams(ownStreams, command);
    if (state.termination) await state.termination;
    state.isDone = true;
    if (state.pid !== undefined) unregisterChildGroup(state.pid);
    const result: RunResult = {
      argv: command.argv,
      exitCode,
      signal,
      ...(stdoutTarget === "capture" ? { stdout: Buffer.concat(state.captured).toString("utf8") } : {}),
      stderrTail: [...state.stderrTail],
      durationMs: Math.round(performance.now() - startedAt),
      skipped: false,
    };
    const reason = state.failure?.reason ?? exitFailureReason(exitCode, signal, options.okExitCodes ?? [0]);
    if (reason === undefined) {
      command.logger.debug(
        `exited with code ${exitCode} after ${formatDuration(result.durationMs)}: ${command.display}`,
      );
      return result;
    }
    const failure = state.failure?.kind ?? (signal ? "signal" : "exit-code");
    const message = formatFailure(command, reason, state.stderrTail);
    throw new CommandError(message, { result, failure, cause: state.failure?.cause });
  })();
  completion.catch(() => undefined);

  return {
    argv: command.argv,
    pid: state.pid,
    stdin: exposedStdin,
    stdout: exposedStdout,
    wait: () => completion,
    kill: () => failCommand(state, "abort", "was aborted"),
  };
}

/** Returns why an exit counts as failure, or undefined when it is a success. */
function exitFailureReason(
  exitCode: number | null,
  signal: NodeJS.Signals | null,
  okExitCodes: readonly number[],
): string | undefined {
  if (signal) return `was killed by signal ${signal}`;
  if (exitCode !== null && okExitCodes.includes(exitCode)) return undefined;
  return `failed with exit code ${exitCode}`;
}

/** Returns whether a stdout target is a file. */
function isStdoutFile(target: StreamOptions["stdout"]): target is StdoutFile {
  return typeof target === "object" && target !== null && "file" in target;
}

/** Opens the stdout file for the child. Throws BackupError when it cannot be created. */
function openStdoutFile(target: StdoutFile): number {
  try {
    return openForWriting(target.file, { mode: target.mode ?? 0o600 });
  } catch (error) {
    throw new BackupError(`Cannot open output file "${target.file}": ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/** Logs every stderr line (redacted, clipped) and keeps the last ones for the error message. */
function collectStderr(stream: Readable, state: CommandState, level: LogLevel): void {
  const splitter = createLineSplitter((line) => {
    const clipped = clipLine(state.command.redactText(line));
    keepTail(state.stderrTail, clipped, stderrTailLines);
    state.command.logger[level](clipped);
  });
  stream.on("data", (chunk: Uint8Array) => splitter.push(chunk));
  stream.on("end", () => splitter.flush());
}

/** Sends stdout to its target: kept (bounded), logged, per-line callback, or a caller's writable. */
function routeStdout(
  stream: Readable,
  target: "capture" | "log" | Writable | ((line: string) => void),
  options: { state: CommandState; maxCaptureBytes: number },
): void {
  const { state, maxCaptureBytes } = options;
  if (target === "capture") {
    stream.on("data", (chunk: Uint8Array) => {
      state.capturedBytes += chunk.byteLength;
      if (state.capturedBytes <= maxCaptureBytes) state.captured.push(chunk);
      else failCommand(state, "output", `produced more than ${maxCaptureBytes} bytes of output`);
    });
    return;
  }
  if (target instanceof Writable) {
    // the caller owns the writable and ends it
    stream.pipe(target, { end: false });
    return;
  }
  const { logger, redactText } = state.command;
  const onLine = target === "log" ? (line: string) => logger.debug(clipLine(redactText(line))) : target;
  const splitter = createLineSplitter((line) => {
    if (state.failure?.kind === "output") return;
    try {
      onLine(line);
    } catch (error) {
      failCommand(state, "output", `output could not be handled: ${errorMessage(error)}`, error);
    }
  });
  stream.on("data", (chunk: Uint8Array) => splitter.push(chunk));
  stream.on("end", () => splitter.flush());
}

/** Feeds the child's stdin from its source, or returns it for the caller when the source is "pipe". */
function feedStdin(
  stdin: Writable,
  source: NonNullable<StreamOptions["stdin"]>,
  state: CommandState,
): Writable | undefined {
  // a child that exits without reading all its input makes writes fail with EPIPE; its exit status tells what happened
  stdin.on("error", (error) =>
    state.command.logger.debug(
      `stdin of "${state.command.display}" closed early: ${errnoCode(error) ?? errorMessage(error)}`,
    ),
  );
  if (source === "pipe") return stdin;
  if (source instanceof Readable) {
    // pipe() does not pass a source error on: without this the child would wait for more input forever
    source.once("error", (error) =>
      failCommand(state, "input", `input failed: ${errorMessage(error)}`, error),
    );
    source.pipe(stdin);
  } else if (typeof source === "string" || source instanceof Uint8Array) stdin.end(source);
  return undefined;
}

/** Waits until the child's output streams end, giving up (and detaching) after a grace period. */
async function drainStreams(streams: Readable[], command: CommandDescription): Promise<void> {
  const finished = Promise.all(streams.map(streamFinished)).then(() => true);
  const isFinished = await Promise.race([finished, Bun.sleep(streamCloseGraceMs).then(() => false)]);
  if (isFinished) return;
  command.logger.debug(
    `a process started by "${command.display}" still holds its output open; no longer reading it`,
  );
  for (const stream of streams) stream.destroy();
}

/** Returns a promise that resolves when a stream has ended, closed or failed. */
function streamFinished(stream: Readable): Promise<void> {
  return new Promise((resolveFinished) => {
    if (stream.readableEnded || stream.destroyed) return resolveFinished();
    stream.once("end", () => resolveFinished());
    stream.once("close", () => resolveFinished());
    stream.once("error", () => resolveFinished());
  });
}
