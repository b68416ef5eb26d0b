import { describe, expect, test } from "bun:test";
import { formatConfigDuration, parseDuration, tryParseDuration } from "../../../mod/lib/duration.ts";
import { BackupError } from "../../../mod/lib/errors.ts";
import { formatBytes, tryParseByteSize } from "../../../mod/lib/size.ts";

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;
const day = 24 * hour;

describe("durations", () => {
  test.each([
    ["90s", 90 * second],
    ["30m", 30 * minute],
    ["26h", 26 * hour],
    ["2d", 2 * day],
    ["1w", 7 * day],
    ["1h30m", 90 * minute],
    ["1h 30m", 90 * minute],
    ["250ms", 250],
    ["45", 45 * second],
    ["1.5h", 90 * minute],
    ["2D", 2 * day],
  ])("%p is %p milliseconds", (text, milliseconds) => {
    expect(parseDuration(text)).toBe(milliseconds);
  });

  test("a plain number counts as seconds", () => {
    expect(parseDuration(120)).toBe(120 * second);
    expect(parseDuration(0)).toBe(0);
  });

  test.each(["", "abc", "2 days", "h", "-5m", "5x", "1h-2m"])("%p is not a duration", (text) => {
    expect(tryParseDuration(text)).toBeUndefined();
    expect(() => parseDuration(text)).toThrow(BackupError);
  });

  test("a negative number of seconds is not a duration", () => {
    expect(tryParseDuration(-1)).toBeUndefined();
  });

  test.each([
    [0, "0s"],
    [90 * second, "1m30s"],
    [26 * hour, "1d2h"],
    [7 * day, "1w"],
    [250, "250ms"],
  ])("%p milliseconds are written %p", (milliseconds, text) => {
    expect(formatConfigDuration(milliseconds)).toBe(text);
  });

  test("a formatted duration parses back to the same milliseconds", () => {
    for (const milliseconds of [1, 999, 61_000, 3 * day + 4 * hour + 5 * minute + 6 * second]) {
      expect(parseDuration(formatConfigDuration(milliseconds))).toBe(milliseconds);
    }
  });
});

describe("byte sizes", () => {
  test.each([
    ["500M", 500 * 1024 ** 2],
    ["2G", 2 * 1024 ** 3],
    ["1T", 1024 ** 4],
    ["1.5K", 1536],
    ["10GiB", 10 * 1024 ** 3],
    ["4096", 4096],
  ])("%p is %p bytes", (text, bytes) => {
    expect(tryParseByteSize(text)).toBe(bytes);
  });

  test.each(["", "lots", "-1G", "5Q"])("%p is not a size", (text) => {
    expect(tryParseByteSize(text)).toBeUndefined();
  });

  test("sizes are written with the largest binary unit", () => {
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(3 * 1024 ** 3)).toBe("3.0 GiB");
    expect(formatBytes(12)).toBe("12 B");
    expect(formatBytes(undefined)).toBe("");
  });
});
