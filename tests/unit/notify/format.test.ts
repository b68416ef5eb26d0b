import { afterEach, describe, expect, test } from "bun:test";
import { Logger, type LogRecord, registerSecret, setLogSink } from "../../../mod/lib/log.ts";
import {
  escapeControlCharacters,
  formatCell,
  formatLogTail,
  formatSection,
  formatTable,
} from "../../../mod/notify/format.ts";

describe("escapeControlCharacters", () => {
  const cases: [string, string, string][] = [
    ["keeps plain text, newlines and tabs", "a\tb\nc", "a\tb\nc"],
    ["turns CRLF into LF", "one\r\ntwo\r\n", "one\ntwo\n"],
    ["shows a lone carriage return", "progress\roverwritten", "progress\\x0doverwritten"],
    ["shows terminal escape sequences", "\u001b[31mred\u001b[0m", "\\x1b[31mred\\x1b[0m"],
    ["shows NUL, bell and DEL", "a\u0000b\u0007c\u007f", "a\\x00b\\x07c\\x7f"],
    ["shows C1 controls such as CSI", "x\u009b2Jy", "x\\x9b2Jy"],
    ["shows bidi overrides that reorder a file name", "invoice\u202Efdp.exe", "invoice\\u{202e}fdp.exe"],
    ["keeps other Unicode", "Müller – 東京.txt", "Müller – 東京.txt"],
  ];
  for (const [name, input, expected] of cases) {
    test(name, () => expect(escapeControlCharacters(input)).toBe(expected));
  }
});

describe("formatTable", () => {
  test("aligns columns, right-aligns numbers, and leaves no trailing spaces", () => {
    const table = formatTable(
      [
        { header: "host" },
        { header: "status" },
        { header: "files new", align: "right" },
        { header: "error" },
      ],
      [
        ["web01", "ok", 12, ""],
        ["database-server", "failed", 0, "checksum mismatch"],
      ],
    );
    expect(table).toBe(
      [
        "host             status  files new  error",
        "---------------  ------  ---------  -----------------",
        "web01            ok             12",
        "database-server  failed          0  checksum mismatch",
      ].join("\n"),
    );
  });

  test("keeps an untrusted cell on one line, escaped and cut at its column's width", () => {
    const table = formatTable(
      [{ header: "host" }, { header: "error", maxWidth: 20 }],
      [["web01", "bad\r\nBcc: x@evil \u001b[2J and much more text"]],
    );
    const lines = table.split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe("web01  bad Bcc: x@evil \\x1…");
    expect(formatCell(undefined)).toBe("");
  });

  test("an empty table still has its header", () => {
    expect(formatTable([{ header: "host" }], [])).toBe("host\n----");
  });
});

describe("formatLogTail and formatSection", () => {
  afterEach(() => setLogSink(undefined));

  const record = (message: string, level: LogRecord["level"] = "info"): LogRecord => ({
    time: new Date("2026-11-26T17:00:00Z"),
    level,
    scope: "server:web01",
    message,
  });

  test("formats the newest records as log lines under a title", () => {
    const records = [record("first"), record("second"), record("checksum mismatch", "error")];
    expect(formatLogTail(records, { limit: 2 })).toBe(
      [
        "Log (last 2 lines)",
        "==================",
        "2026-11-26T17:00:00Z INFO  [server:web01] second",
        "2026-11-26T17:00:00Z ERROR [server:web01] checksum mismatch",
        "",
      ].join("\n"),
    );
  });

  test("escapes control characters and redacts secrets registered after the line was logged", () => {
    const secret = `late-secret-${Date.now()}`;
    const text = formatLogTail([record(`token ${secret} in \u001b[1mbold`)]);
    registerSecret(secret);
    const again = formatLogTail([record(`token ${secret} in \u001b[1mbold`)]);
    expect(text).toContain("\\x1b[1m");
    expect(again).not.toContain(secret);
    expect(again).toContain("token *** in");
  });

  test("reads this process's log history by default", () => {
    setLogSink({ write: () => undefined });
    const marker = `marker-${Date.now()}`;
    new Logger("notify-test").warn(marker);
    const tail = formatLogTail(undefined, { limit: 5, title: "Recent log" });
    expect(tail.startsWith("Recent log\n==========\n")).toBe(true);
    expect(tail).toContain(`WARN  [notify-test] ${marker}`);
  });

  test("says so when there is nothing to show", () => {
    expect(formatLogTail([])).toBe("Log (last 0 lines)\n==================\n(no log lines)\n");
    expect(formatSection("Hosts", "a\n\n")).toBe("Hosts\n=====\na\n");
  });
});
