// Process control for the reliability suite: run the compiled binary as a child we can signal,
// signal it with its whole process tree at once (what systemd does to a unit's cgroup), and read
// the process table to prove nothing was left running.

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { binaryPath } from "../../e2e/binary.ts";

/** A running dist/backupctl. */
export interface RunningBinary {
  pid: number;
  /** Resolves with the exit status (128 + signal number when killed). */
  exited: Promise<number>;
  /** What it wrote so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when stderr contains text (or rejects after timeoutMs). */
  waitForStderr(text: string | RegExp, timeoutMs?: number): Promise<void>;
}

/** Starts dist/backupctl with args, reading its output as it comes. */
export function startBinary(args: string[], options: { env?: Record<string, string> } = {}): RunningBinary {
  const child = Bun.spawn([binaryPath, ...args], {
    env: options.env ?? { ...process.env, JOURNAL_STREAM: "" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let stdout = "";
  let stderr = "";
  const collect = async (stream: ReadableStream<Uint8Array>, onText: (text: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) onText(decoder.decode(chunk, { stream: true }));
  };
  const stdoutDone = collect(child.stdout, (text) => {
    stdout += text;
  });
  const stderrDone = collect(child.stderr, (text) => {
    stderr += text;
  });
  const exited = (async () => {
    const code = await child.exited;
    await Promise.all([stdoutDone, stderrDone]);
    return code;
  })();
  return {
    pid: child.pid,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    async waitForStderr(text, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      const matches = () => (typeof text === "string" ? stderr.includes(text) : text.test(stderr));
      while (!matches()) {
        if (Date.now() > deadline)
          throw new Error(`stderr did not show ${String(text)} within ${timeoutMs} ms`);
        await Bun.sleep(20);
      }
    },
  };
}

/** One row of the process table. */
export interface ProcessRow {
  pid: number;
  parentPid: number;
  groupId: number;
  state: string;
  name: string;
}

/** Returns every process in /proc (processes that vanish while reading are skipped). */
export function processTable(): ProcessRow[] {
  const rows: ProcessRow[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      rows.push({
        pid: Number(entry),
        state: fields[0] ?? "?",
        parentPid: Number(fields[1]),
        groupId: Number(fields[2]),
        name,
      });
    } catch {
      // exited between readdir and read
    }
  }
  return rows;
}

/** Returns the live (not zombie) descendants of pid. */
export function descendantsOf(pid: number): number[] {
  const rows = processTable().filter((row) => row.state !== "Z");
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift() as number;
    for (const row of rows) {
      if (row.parentPid === parent && !found.includes(row.pid)) {
        found.push(row.pid);
        queue.push(row.pid);
      }
    }
  }
  return found;
}

/** Sends signal to one process; a process that is gone is ignored. */
function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Signals pid and every process below it at the same moment, as systemd signals every process of a
 * unit's cgroup (children in their own process groups included). The tree is frozen with SIGSTOP
 * first, so nothing forks past the signal; then signalled; then thawed.
 */
export function signalTree(pid: number, signal: NodeJS.Signals): number[] {
  const frozen = new Set<number>([pid]);
  sendSignal(pid, "SIGSTOP");
  for (let round = 0; round < 5; round++) {
    const before = frozen.size;
    for (const child of descendantsOf(pid)) {
      if (!frozen.has(child)) {
        sendSignal(child, "SIGSTOP");
        frozen.add(child);
      }
    }
    if (frozen.size === before) break;
  }
  for (const member of frozen) sendSignal(member, signal);
  if (signal !== "SIGKILL") for (const member of frozen) sendSignal(member, "SIGCONT");
  return [...frozen];
}

/** Returns the number of open file descriptors of a process, or undefined when it is gone. */
export function openDescriptorCount(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** Returns the executable of a process, or undefined. */
export function executableOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/** Returns live processes whose command name is one of names (tools backupctl starts). */
export function processesNamed(names: readonly string[]): ProcessRow[] {
  return processTable().filter((row) => row.state !== "Z" && names.includes(row.name));
}

/** Polls until predicate holds; throws after timeoutMs. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  options: { timeoutMs: number; description: string; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${options.timeoutMs} ms: ${options.description}`);
    await Bun.sleep(options.intervalMs ?? 25);
  }
}

/** Returns whether a process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Records every descendant of pid seen while it runs (polled), to check afterwards that none outlived it. */
export function watchDescendants(
  pid: number,
  done: Promise<unknown>,
  intervalMs = 20,
): { seen: Set<number>; finished: Promise<Set<number>> } {
  const seen = new Set<number>();
  let isDone = false;
  void done.finally(() => {
    isDone = true;
  });
  const finished = (async () => {
    while (!isDone) {
      for (const child of descendantsOf(pid)) seen.add(child);
      await Bun.sleep(intervalMs);
    }
    return seen;
  })();
  return { seen, finished };
}

/** Returns the pids of the set that are still running, after giving them graceMs to go. */
export async function survivors(pids: Iterable<number>, graceMs = 2000): Promise<number[]> {
  const deadline = Date.now() + graceMs;
  let alive = [...pids].filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await Bun.sleep(50);
    alive = alive.filter(isAlive);
  }
  return alive;
}
