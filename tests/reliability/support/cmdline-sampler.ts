// A separate process that samples /proc/*/cmdline every ~20 ms (the catalogue's H8) and counts the
// samples that contain a canary secret. It gets the canaries from a file, never from its own argv,
// and stops when the stop file appears, writing {samples, processesSeen, hits} to the output file.
// Usage: bun cmdline-sampler.ts <canary file> <output file> <stop file>

import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";

const [canaryFile, outputFile, stopFile] = process.argv.slice(2) as [string, string, string];
const canaries = readFileSync(canaryFile, "utf8").split("\n").filter(Boolean);
const hits: { pid: number; command: string }[] = [];
const seen = new Set<number>();
let samples = 0;

while (!existsSync(stopFile)) {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let commandLine: string;
    try {
      commandLine = readFileSync(`/proc/${entry}/cmdline`, "utf8");
    } catch {
      continue;
    }
    seen.add(Number(entry));
    if (canaries.some((canary) => commandLine.includes(canary))) {
      hits.push({ pid: Number(entry), command: commandLine.replaceAll("\0", " ").slice(0, 200) });
    }
  }
  samples++;
  await Bun.sleep(20);
}
writeFileSync(outputFile, JSON.stringify({ samples, processesSeen: seen.size, hits }));
