// A wrapper around the real compose command for fault injection (the catalogue's H2, over a real
// dockerd): it logs every call, and control files make `stop` fail after stopping, `start` fail N
// times (or always), or an operation sleep first (touching a "started" marker), per compose project.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { shellQuote, writeExecutable } from "./fakebin.ts";

/** The wrapper and its control directory. */
export interface ComposeWrapper {
  /** tools.docker_cmd value. */
  command: string[];
  /** Calls so far, each "op project" (op: stop, start, ps, exec, …). */
  calls(): string[];
  /** Makes `stop` of a project fail (after really stopping). */
  failStop(project: string, isOn?: boolean): void;
  /** Makes `start` of a project fail the next `times` calls, or always. */
  failStart(project: string, times: number | "always" | 0): void;
  /** Makes an operation of a project sleep first; `started(op, project)` tells when it began. */
  slow(op: string, project: string, seconds: number | 0): void;
  started(op: string, project: string): boolean;
  /** Removes every fault and marker. */
  reset(): void;
}

/** Writes the wrapper into directory; realCompose is the harness's compose argv. */
export function createComposeWrapper(directory: string, realCompose: string[]): ComposeWrapper {
  const control = join(directory, "compose-control");
  const callLog = join(directory, "compose-calls.log");
  mkdirSync(control, { recursive: true });
  const q = shellQuote;
  const script = `#!/bin/bash
control=${q(control)}
project=""; op=""; prev=""
for argument in "$@"; do
  if [ "$prev" = "--project-name" ]; then project="$argument"; fi
  case "$argument" in stop|start|ps|exec|up|down) [ -z "$op" ] && op="$argument";; esac
  prev="$argument"
done
echo "$op $project" >> ${q(callLog)}
if [ -e "$control/slow-$op-$project" ]; then touch "$control/started-$op-$project"; sleep "$(cat "$control/slow-$op-$project")"; fi
if [ "$op" = start ] && [ -e "$control/fail-start-$project" ]; then
  remaining=$(cat "$control/fail-start-$project")
  if [ "$remaining" = always ]; then echo "injected: start of $project failed" >&2; exit 1; fi
  if [ "$remaining" -gt 0 ]; then echo $((remaining - 1)) > "$control/fail-start-$project"; echo "injected: start of $project failed" >&2; exit 1; fi
fi
${realCompose.map(q).join(" ")} "$@"
status=$?
if [ "$op" = stop ] && [ -e "$control/fail-stop-$project" ]; then echo "injected: stop of $project failed" >&2; exit 1; fi
exit $status
`;
  const path = writeExecutable(directory, "compose-wrapper", script);
  return {
    command: [path],
    calls: () => (existsSync(callLog) ? readFileSync(callLog, "utf8").split("\n").filter(Boolean) : []),
    failStop(project, isOn = true) {
      if (isOn) writeFileSync(join(control, `fail-stop-${project}`), "1");
      else rmSync(join(control, `fail-stop-${project}`), { force: true });
    },
    failStart(project, times) {
      if (times === 0) rmSync(join(control, `fail-start-${project}`), { force: true });
      else writeFileSync(join(control, `fail-start-${project}`), String(times));
    },
    slow(op, project, seconds) {
      rmSync(join(control, `started-${op}-${project}`), { force: true });
      if (seconds === 0) rmSync(join(control, `slow-${op}-${project}`), { force: true });
      else writeFileSync(join(control, `slow-${op}-${project}`), String(seconds));
    },
    started: (op, project) => existsSync(join(control, `started-${op}-${project}`)),
    reset() {
      rmSync(control, { recursive: true, force: true });
      mkdirSync(control, { recursive: true });
      rmSync(callLog, { force: true });
    },
  };
}
