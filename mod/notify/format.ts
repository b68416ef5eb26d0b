// Plain-text pieces of the mails backupctl sends: a fixed-width table (the per-host summary), a log
// tail, and the escaping that keeps text from a client (file names, remote errors) from driving the
// reader's terminal. Pure apart from formatLogTail's default, which reads the log history.

import { formatLogLine, type LogRecord, logHistory, redact } from "../lib/log.ts";

/** One column of formatTable. */
export interface TableColumn {
  header: string;
  /** Numbers read best right-aligned (default "left"). */
  align?: "left" | "right";
  /** Longer cells are cut with "…" (default 60). */
  maxWidth?: number;
}

/** Options of formatLogTail. */
export interface LogTailOptions {
  /** At most this many lines, the newest (default 50). */
  limit?: number;
  /** The section title (default "Log (last N lines)"). */
  title?: string;
}

// C0 controls but tab and newline, DEL, C1 controls, and the Unicode bidi and line/paragraph
// separators that can make a mail reader show text in an order other than the bytes say
const unsafeCharacters = /[^\P{Cc}\n\t]|[\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/gu;

/** Returns text with terminal control characters shown as \xHH or \u{HHHH}; newlines and tabs are kept, CRLF becomes LF. */
export function escapeControlCharacters(text: string): string {
  return text.replace(/\r\n/g, "\n").replace(unsafeCharacters, (character) => {
    const code = character.codePointAt(0) ?? 0;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
  });
}

/** Returns one table cell's text: escaped, on one line, cut at maxWidth. */
export function formatCell(value: string | number | undefined, maxWidth = 60): string {
  const text = escapeControlCharacters(value === undefined ? "" : String(value)).replace(/[\n\t]+/g, " ");
  return text.length > maxWidth ? `${text.slice(0, Math.max(0, maxWidth - 1))}…` : text;
}

/** Returns a fixed-width table: a header line, a rule of dashes, one line per row, no trailing spaces. */
export function formatTable(
  columns: readonly TableColumn[],
  rows: readonly (readonly (string | number | undefined)[])[],
): string {
  const cells = rows.map((row) => columns.map((column, index) => formatCell(row[index], column.maxWidth)));
  const headers = columns.map((column) => formatCell(column.header, column.maxWidth));
  const widths = columns.map((_column, index) =>
    Math.max((headers[index] as string).length, ...cells.map((row) => (row[index] as string).length)),
  );
  const formatLine = (values: readonly string[]) =>
    values
      .map((value, index) => {
        const width = widths[index] as number;
        return columns[index]?.align === "right" ? value.padStart(width) : value.padEnd(width);
      })
      .join("  ")
      .trimEnd();
  const rule = widths.map((width) => "-".repeat(width)).join("  ");
  return [formatLine(headers), rule, ...cells.map(formatLine)].join("\n");
}

/** Returns a titled section: the title, a rule under it, the body. */
export function formatSection(title: string, body: string): string {
  const heading = formatCell(title, 200);
  return `${heading}\n${"=".repeat(heading.length)}\n${body.replace(/\n+$/, "")}\n`;
}

/** Returns a "Log (last N lines)" section of the newest log records (default: this run's history). */
export function formatLogTail(
  records: readonly LogRecord[] = logHistory(),
  options: LogTailOptions = {},
): string {
  const limit = options.limit ?? 50;
  const newest = records.slice(-limit);
  const title = options.title ?? `Log (last ${newest.length} lines)`;
  // records were redacted when logged; redacting again covers secrets registered since
  const lines = newest.map((record) => escapeControlCharacters(redact(formatLogLine(record, false))));
  return formatSection(title, lines.length > 0 ? lines.join("\n") : "(no log lines)");
}
