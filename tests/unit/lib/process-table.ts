// Test helper: reads the process table from /proc, to prove that no process of a command survives it.

import { readdirSync, readFileSync } from "node:fs";

/** One row of /proc/<pid>/stat. */
export interface ProcessEntry {
  pid: number;
  parentPid: number;
  groupId: number;
  state: string;
}

/** Returns every process now in /proc (processes that vanish while reading are skipped). */
export function listProcesses(): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // the command name in parentheses may itself hold spaces or parentheses
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      entries.push({
        pid: Number(name),
        state: fields[0] ?? "?",
        parentPid: Number(fields[1]),
        groupId: Number(fields[2]),
      });
    } catch {
      // exited between readdir and read
    }
  }
  return entries;
}

/** Returns the running processes of the group led by groupId, or whose parent is groupId. Zombies are
 * left out: they are dead, only not yet reaped by init (which here may take a second or two). */
export function processesOfGroup(groupId: number): ProcessEntry[] {
  return listProcesses().filter(
    (entry) => (entry.groupId === groupId || entry.parentPid === groupId) && entry.state !== "Z",
  );
}

/** Returns whether a process is still running (not gone, not a zombie). */
export function isRunning(pid: number): boolean {
  return listProcesses().some((entry) => entry.pid === pid && entry.state !== "Z");
}

/** Returns the command line of a process, or undefined when it is gone. */
export function commandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
  } catch {
    return undefined;
  }
}

/** Waits until predicate holds, polling; throws after timeoutMs. */
export async function waitUntil(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await Bun.sleep(20);
  }
}
