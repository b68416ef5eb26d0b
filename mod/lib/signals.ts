// Process groups of the commands exec.ts starts: every child leads its own group (detached spawn),
// so signalling -pid reaches the tool and everything it forked. The registry of live groups lets
// main.ts end them all from its SIGTERM/SIGINT handler.

import { readdirSync, readFileSync } from "node:fs";
import { errnoCode } from "./errors.ts";

const liveGroups = new Set<number>();

/** Records a child that leads a new process group. */
export function registerChildGroup(pid: number): void {
  liveGroups.add(pid);
}

/** Forgets a child whose group needs no more signals. */
export function unregisterChildGroup(pid: number): void {
  liveGroups.delete(pid);
}

/** Returns how many child process groups are registered as live. */
export function liveChildCount(): number {
  return liveGroups.size;
}

/** Sends signal to every live child process group and returns how many were signalled. */
export function terminateAllChildren(signal: NodeJS.Signals = "SIGTERM"): number {
  let count = 0;
  for (const pid of liveGroups) if (signalGroup(pid, signal)) count++;
  return count;
}

/** Sends signal to the process group led by pid; returns false when the group no longer exists. */
export function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (error) {
    if (errnoCode(error) === "ESRCH") return false;
    // EPERM: a member changed its credentials (a setuid tool); the group exists, we cannot touch it
    return errnoCode(error) === "EPERM";
  }
}

/** Returns whether any process of the group led by pid is still running (zombies do not count). */
export function isGroupAlive(pid: number): boolean {
  if (!signalGroup(pid, 0)) return false;
  // kill(-pid, 0) also succeeds while only zombies remain: dead grandchildren that init has not reaped
  // yet (some container inits reap only every second or two). They hold no files or pipes any more.
  return hasRunningMember(pid);
}

/** Returns whether /proc lists a member of the group that is not a zombie; true when /proc cannot tell. */
function hasRunningMember(groupId: number): boolean {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return true;
  }
  for (const name of names) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited while we looked
    }
    // fields after "pid (comm) ": state ppid pgrp …; comm may itself hold ") "
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ", 3);
    if (Number(fields[2]) === groupId && fields[0] !== "Z" && fields[0] !== "X") return true;
  }
  return false;
}

/** Returns once the group is gone or the time is up; true when gone. */
async function waitForGroupExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isGroupAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await Bun.sleep(Math.min(25, Math.max(1, deadline - Date.now())));
  }
  return true;
}

/** Sends SIGTERM to the group, then SIGKILL after graceMs; resolves when it is gone (or SIGKILL could not end it within killWaitMs). */
export async function terminateGroup(
  pid: number,
  options: { graceMs: number; killWaitMs?: number },
): Promise<boolean> {
  if (!signalGroup(pid, "SIGTERM")) return true;
  if (await waitForGroupExit(pid, options.graceMs)) return true;
  signalGroup(pid, "SIGKILL");
  // SIGKILL cannot be caught, but a process in uninterruptible sleep (D state) dies only when its I/O ends
  return await waitForGroupExit(pid, options.killWaitMs ?? 5000);
}
