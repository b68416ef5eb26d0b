// output-lines: a child's byte stream as lines for the log and the stderr tail.

import { describe, expect, test } from "bun:test";
import { clipLine, createLineSplitter, keepTail } from "../../../mod/lib/output-lines.ts";

/** Feeds chunks to a fresh splitter and returns the lines it emitted, flushed. */
function split(chunks: Uint8Array[]): string[] {
  const lines: string[] = [];
  const splitter = createLineSplitter((line) => lines.push(line));
  for (const chunk of chunks) splitter.push(chunk);
  splitter.flush();
  return lines;
}

const bytes = (text: string) => new TextEncoder().encode(text);

describe("createLineSplitter", () => {
  test("splits on LF and CR LF and emits the unterminated rest on flush", () => {
    expect(split([bytes("a\nb\r\n"), bytes("c")])).toEqual(["a", "b", "c"]);
    expect(split([bytes("")])).toEqual([]);
  });

  test("a UTF-8 character cut between chunks stays whole", () => {
    const text = bytes("größe\n");
    const cut = text.indexOf(0xc3) + 1;
    expect(split([text.subarray(0, cut), text.subarray(cut)])).toEqual(["größe"]);
  });

  test("output without newlines is emitted in pieces of at most about 1 MiB instead of held", () => {
    const piece = bytes("x".repeat(700 * 1024));
    const emitted: number[] = [];
    const splitter = createLineSplitter((line) => emitted.push(line.length));
    splitter.push(piece);
    expect(emitted).toEqual([]);
    splitter.push(piece);
    expect(emitted).toEqual([1400 * 1024]);
    splitter.flush();
    expect(emitted).toEqual([1400 * 1024]);
  });
});

describe("clipLine and keepTail", () => {
  test("long lines are clipped to 2000 characters and marked", () => {
    expect(clipLine("short")).toBe("short");
    expect(clipLine("y".repeat(2500))).toBe(`${"y".repeat(2000)}…`);
  });

  test("the tail keeps the newest lines up to its limit", () => {
    const tail: string[] = [];
    for (const line of ["1", "2", "3", "4"]) keepTail(tail, line, 3);
    expect(tail).toEqual(["2", "3", "4"]);
  });
});
