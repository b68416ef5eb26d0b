// A child's output as lines, for the log and for error messages: split on LF (CR LF too), bounded
// however the child writes, clipped for display. Shared by lib/exec (one command) and lib/pipeline
// (the stages of a kernel-piped pipeline).

// a binary stream without newlines must not grow memory without bound
const maxPendingLineLength = 1024 * 1024;
const displayLineLength = 2000;

/** Splits a byte stream into lines. */
export interface LineSplitter {
  /** Calls onLine for every complete line in chunk (and for a pending part past 1 MiB). */
  push(chunk: Uint8Array): void;
  /** Calls onLine for the unterminated rest, if any. */
  flush(): void;
}

/** Returns a splitter that calls onLine per complete line of a byte stream; flush() emits the unterminated rest. */
export function createLineSplitter(onLine: (line: string) => void): LineSplitter {
  const decoder = new TextDecoder();
  let pending = "";
  return {
    push(chunk) {
      const lines = (pending + decoder.decode(chunk, { stream: true })).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line.replace(/\r$/, ""));
      if (pending.length > maxPendingLineLength) {
        onLine(pending);
        pending = "";
      }
    },
    flush() {
      pending += decoder.decode();
      if (pending !== "") onLine(pending.replace(/\r$/, ""));
      pending = "";
    },
  };
}

/** Shortens a line for the log and the stderr tail. */
export function clipLine(line: string): string {
  return line.length > displayLineLength ? `${line.slice(0, displayLineLength)}…` : line;
}

/** Appends line to tail and drops the oldest lines beyond limit. */
export function keepTail(tail: string[], line: string, limit: number): void {
  tail.push(line);
  if (tail.length > limit) tail.splice(0, tail.length - limit);
}
