// Child processes of the harness: commands run to completion with a deadline, and long-running services
// in their own process group with their output in a log file, waited for and stopped within deadlines.
// (The production rule "only mod/lib/exec.ts spawns" does not apply to the test harness.)
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";

/** Outcome of a command run to completion. */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Options of `runCommand`. */
export interface RunOptions {
  /** Extra environment on top of `process.env`; a value of `undefined` removes the variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Written to the command's stdin, which is closed afterwards (otherwise stdin is /dev/null). */
  input?: string | Uint8Array;
  /** Kill the command (SIGKILL) after this long; default 60 s. */
  timeoutMs?: number;
  /** Return a non-zero exit instead of throwing. */
  allowFailure?: boolean;
}

/** Returns the last `lineCount` lines of `text`. */
export function tail(text: string, lineCount = 30): string {
  return text.trimEnd().split("\n").slice(-lineCount).join("\n");
}

/** Merges `extra` over `process.env`, dropping variables set to undefined. */
export function mergeEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...extra })) {
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

/**
 * Runs `argv` (no shell) to completion and returns its exit code and output.
 * Throws when it cannot start, exceeds its deadline, or exits non-zero without `allowFailure`.
 */
export async function runCommand(argv: string[], options: RunOptions = {}): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const input = options.input;
  const child = Bun.spawn(argv, {
    cwd: options.cwd,
    env: mergeEnv(options.env),
    stdin:
      input === undefined ? "ignore" : typeof input === "string" ? new TextEncoder().encode(input) : input,
    stdout: "pipe",
    stderr: "pipe",
    timeout: timeoutMs,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  const shown = argv.join(" ");
  if (child.signalCode === "SIGKILL" && exitCode !== 0) {
    throw new Error(`Command "${shown}" timed out after ${timeoutMs} ms:\n${tail(stderr || stdout)}`);
  }
  if (exitCode !== 0 && !options.allowFailure) {
    throw new Error(`Command "${shown}" failed with exit code ${exitCode}:\n${tail(stderr || stdout)}`);
  }
  return { exitCode, stdout, stderr };
}

/** Options of `ServiceProcess.start`. */
export interface ServiceOptions {
  /** Short name used in error messages ("sshd", "postgres"). */
  name: string;
  /** File that receives the service's stdout and stderr. */
  logPath: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Run as this account instead of root (for servers that refuse root, like postgres). */
  runAs?: { uid: number; gid: number };
}

/** Options of `ServiceProcess.stop`. */
export interface StopOptions {
  /** First signal; default SIGTERM. */
  signal?: NodeJS.Signals;
  /** How long to wait after it before SIGKILL; default 15 s. */
  timeoutMs?: number;
  /** End descendants outside the process group first (sshd's per-connection processes). */
  sessionsFirst?: boolean;
  /** Send the first signal to the leader only, not its group. */
  leaderOnly?: boolean;
}

/** A long-running service in its own process group, its output going to a log file. */
export class ServiceProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Exit code, or 128 + signal number; null while running. */
  exitCode: number | null = null;
  private readonly child: Bun.Subprocess;
  private stopping: Promise<void> | undefined;

  private constructor(name: string, logPath: string, child: Bun.Subprocess) {
    this.name = name;
    this.logPath = logPath;
    this.child = child;
    this.pid = child.pid;
    void child.exited.then((code) => {
      this.exitCode = code;
    });
  }

  /**
   * Starts `argv` detached (its own session and process group) with output appended to the log file,
   * through `setpriv`: it switches to `runAs` when given, and sets the parent-death signal so the
   * service dies with the test runner even when no afterAll runs (bun test emits no "exit" event, and a
   * killed runner runs nothing at all).
   */
  static start(argv: string[], options: ServiceOptions): ServiceProcess {
    const identity = options.runAs
      ? [`--reuid=${options.runAs.uid}`, `--regid=${options.runAs.gid}`, "--init-groups"]
      : [];
    const logFd = openSync(options.logPath, "a", 0o600);
    try {
      // The death signal is set after the identity change, which would otherwise reset it.
      const child = Bun.spawn(["setpriv", ...identity, "--pdeathsig=KILL", "--", ...argv], {
        cwd: options.cwd,
        env: mergeEnv(options.env),
        stdin: "ignore",
        stdout: logFd,
        stderr: logFd,
        detached: true,
      });
      return new ServiceProcess(options.name, options.logPath, child);
    } finally {
      closeSync(logFd);
    }
  }

  /** True while the process has not exited. */
  get isRunning(): boolean {
    return this.exitCode === null;
  }

  /** The last lines of the service's log, for error messages. */
  logTail(lineCount = 30): string {
    try {
      return tail(readFileSync(this.logPath, "utf8"), lineCount);
    } catch {
      return "(no log)";
    }
  }

  /**
   * Sends `signal` to the whole process group, waits up to `timeoutMs`, then SIGKILLs the group and any
   * descendant still alive. With `sessionsFirst`, descendants that left the group (setsid, like sshd's
   * per-connection processes) are ended before the leader, while it can still reap them: orphaned, they
   * would stay zombies under an init that does not reap. With `leaderOnly`, the first signal goes to the
   * leader alone, for daemons that shut their helpers down in order (dockerd and its containerd).
   * Idempotent: later calls wait for the first.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.stopping ??= this.terminate(options.signal ?? "SIGTERM", options.timeoutMs ?? 15_000, options);
    return this.stopping;
  }

  private async terminate(signal: NodeJS.Signals, timeoutMs: number, options: StopOptions): Promise<void> {
    if (!this.isRunning) return;
    const tree = listDescendants(this.pid);
    const treeStarts = tree.map((pid) => ({ pid, startTime: readStatField(pid, 19) }));
    if (options.sessionsFirst) {
      const outsiders = tree.filter((pid) => readStatField(pid, 2) !== this.pid);
      const haveEnded = () => outsiders.every((pid) => !isAlive(pid));
      // Sessions whose client just disconnected end by themselves within milliseconds.
      await waitUntil(haveEnded, { description: "sessions to end", timeoutMs: 1_000 }).catch(async () => {
        for (const pid of [...outsiders].reverse()) signalProcess(pid, signal);
        await waitUntil(haveEnded, { description: "sessions to end", timeoutMs: 2_000 }).catch(() => {
          for (const pid of outsiders) signalProcess(pid, "SIGKILL");
        });
      });
    }
    if (options.leaderOnly) signalProcess(this.pid, signal);
    else signalGroup(this.pid, signal);
    const hasExited = await Promise.race([
      this.child.exited.then(() => true),
      Bun.sleep(timeoutMs).then(() => false),
    ]);
    if (!hasExited) {
      signalGroup(this.pid, "SIGKILL");
      await this.child.exited;
    }
    // The leader is gone; whatever it left behind (in its group or not) goes with SIGKILL. Linux does not
    // reuse a pid while a group of that id has members, so a live process with the leader's pid means the
    // group is empty and the pid belongs to someone else now.
    if (!existsSync(`/proc/${this.pid}`)) signalGroup(this.pid, "SIGKILL");
    for (const { pid, startTime } of treeStarts) {
      // The start time guards against a pid reused by an unrelated process meanwhile.
      if (isAlive(pid) && readStatField(pid, 19) === startTime) signalProcess(pid, "SIGKILL");
    }
  }
}

/** Returns the pids of all descendants of `pid`, parents before children. */
export function listDescendants(pid: number): number[] {
  const childrenByParent = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const parent = readStatField(Number(entry), 1);
    if (parent === undefined) continue;
    const siblings = childrenByParent.get(parent) ?? [];
    siblings.push(Number(entry));
    childrenByParent.set(parent, siblings);
  }
  const result: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const children = childrenByParent.get(queue.shift() as number) ?? [];
    result.push(...children);
    queue.push(...children);
  }
  return result;
}

/** Returns true when `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/**
 * Numeric field `index` after the command name in /proc/<pid>/stat (1 = ppid, 2 = pgrp, 19 = start time).
 */
function readStatField(pid: number, index: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const value = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[index];
    return value === undefined ? undefined : Number(value);
  } catch {
    return undefined;
  }
}

/** Sends `signal` to one process; one that is already gone is fine. */
function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

/** Options of `waitUntil`. */
export interface WaitOptions {
  /** What is awaited, for the error message ("sshd to accept connections"). */
  description: string;
  timeoutMs: number;
  intervalMs?: number;
  /** The service being waited for: its early exit fails at once, its log tail goes into errors. */
  service?: ServiceProcess;
}

/**
 * Polls `check` until it returns true. Throws when the deadline passes or the service exits first,
 * with the service's log tail in the message.
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  options: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    const service = options.service;
    if (service && !service.isRunning) {
      throw new Error(
        `${service.name} exited with code ${service.exitCode} while waiting for ${options.description}; ` +
          `log ${service.logPath}:\n${service.logTail()}`,
      );
    }
    if (Date.now() >= deadline) {
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      const log = service ? `; log ${service.logPath}:\n${service.logTail()}` : "";
      throw new Error(
        `Timed out after ${options.timeoutMs} ms waiting for ${options.description}${reason}${log}`,
      );
    }
    await Bun.sleep(options.intervalMs ?? 50);
  }
}

/** Sends `signal` to process group `pid`; a group that is already gone is fine. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}
