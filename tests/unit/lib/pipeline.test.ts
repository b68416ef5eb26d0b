// runPipeline: stages joined by kernel pipes, the first real failure named, per-stage accepted exit codes.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runPipeline } from "../../../mod/lib/pipeline.ts";

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "pipeline-test-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("runPipeline", () => {
  test("joins the stages and writes the last one's output to the file", async () => {
    const output = join(root, "out");
    const results = await runPipeline(
      [
        ["printf", "b\\na\\n"],
        ["sort", "--"],
      ],
      { stdoutFile: { path: output } },
    );
    expect(readFileSync(output, "utf8")).toBe("a\nb\n");
    expect(results.map((result) => result.exitCode)).toEqual([0, 0]);
  });

  test("a stage's exit code listed in okExitCodes is a success and is reported, any other fails", async () => {
    const stages = [["sh", "-c", "echo changed >&2; exit 1"], ["cat"]];
    const [first] = await runPipeline(stages, { okExitCodes: [[0, 1]] });
    expect(first?.exitCode).toBe(1);
    expect(first?.stderrTail).toEqual(["changed"]);
    await expect(runPipeline(stages)).rejects.toThrow(/failed with exit code 1: changed/);
    await expect(runPipeline(stages, { okExitCodes: [[0], [0, 1]] })).rejects.toThrow(/exit code 1/);
  });

  test("a stage's stderr tail is split as a single command's: CR LF lines, clipped, the last 20", async () => {
    const script =
      'i=0; while [ $i -lt 25 ]; do printf "line %d\\r\\n" $i >&2; i=$((i+1)); done; head -c 3000 /dev/zero | tr "\\0" x >&2; exit 2';
    const error = await runPipeline([["sh", "-c", script], ["cat"]]).catch((caught: unknown) => caught);
    const tail = (error as { result: { stderrTail: string[] } }).result.stderrTail;
    expect(tail).toHaveLength(20);
    expect(tail[0]).toBe("line 6");
    expect(tail[18]).toBe("line 24");
    expect(tail[19]).toBe(`${"x".repeat(2000)}…`);
  });
});
