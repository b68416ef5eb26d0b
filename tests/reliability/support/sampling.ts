// Sampling a running command from outside: resident memory of its process tree and the bytes under
// a directory, polled every few milliseconds until it exits, for the peak figures of the bomb tests.

import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { descendantsOf } from "./processes.ts";

/** Returns the resident set size of one process in bytes (0 when it is gone). */
export function residentBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Returns the bytes allocated on disk under a directory (0 when it is missing). */
export function diskBytes(path: string): number {
  let total = 0;
  const visit = (current: string) => {
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(current);
    } catch {
      return;
    }
    total += stat.blocks * 512;
    if (stat.isDirectory()) {
      let names: string[] = [];
      try {
        names = readdirSync(current);
      } catch {
        return;
      }
      for (const name of names) visit(join(current, name));
    }
  };
  visit(path);
  return total;
}

/** Peaks seen while a process ran. */
export interface Peaks {
  residentBytes: number;
  diskBytes: number;
  samples: number;
}

/** Samples pid's tree RSS and the disk use under directory until done resolves. */
export async function samplePeaks(
  pid: number,
  directory: string,
  done: Promise<unknown>,
  intervalMs = 25,
): Promise<Peaks> {
  const peaks: Peaks = { residentBytes: 0, diskBytes: 0, samples: 0 };
  let isDone = false;
  void done.finally(() => {
    isDone = true;
  });
  while (!isDone) {
    const tree = [pid, ...descendantsOf(pid)];
    peaks.residentBytes = Math.max(
      peaks.residentBytes,
      tree.reduce((sum, member) => sum + residentBytes(member), 0),
    );
    peaks.diskBytes = Math.max(peaks.diskBytes, diskBytes(directory));
    peaks.samples++;
    await Bun.sleep(intervalMs);
  }
  return peaks;
}
