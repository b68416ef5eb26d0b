import { describe, expect, test } from "bun:test";
import {
  formatAge,
  formatArchiveTimestamp,
  formatDuration,
  parseArchiveTimestamp,
} from "../../../mod/lib/time.ts";

describe("archive timestamps", () => {
  test("a date is formatted in UTC as YYYYMMDD_HHMMSS", () => {
    expect(formatArchiveTimestamp(new Date("2026-11-26T17:05:09.999Z"))).toBe("20261126_170509");
    expect(formatArchiveTimestamp(new Date("2026-01-02T03:04:05+02:00"))).toBe("20260102_010405");
  });

  test("a timestamp parses back to the same UTC second", () => {
    expect(parseArchiveTimestamp("20261126_170509")?.toISOString()).toBe("2026-11-26T17:05:09.000Z");
    expect(parseArchiveTimestamp("20240229_235959")?.toISOString()).toBe("2024-02-29T23:59:59.000Z");
  });

  test.each([
    ["20261332_120000", "month 13"],
    ["20260230_120000", "30 February"],
    ["20250229_120000", "29 February of a common year"],
    ["20261126_240000", "hour 24"],
    ["20261126_126000", "minute 60"],
    ["20261126_120060", "second 60"],
    ["20261126-120000", "a dash instead of the underscore"],
    ["2026112_120000", "a short date"],
    ["20261126_1200000", "an extra digit"],
    [" 20261126_120000", "leading space"],
    ["20261126_120000\n", "a trailing newline"],
    ["２0261126_120000", "a non-ASCII digit"],
    ["", "the empty string"],
  ])("parsing rejects %p (%s)", (text) => {
    expect(parseArchiveTimestamp(text)).toBeUndefined();
  });

  test("formatting an invalid date throws instead of writing NaN into a name", () => {
    expect(() => formatArchiveTimestamp(new Date("not a date"))).toThrow(RangeError);
  });
});

describe("ages and durations", () => {
  const second = 1000;
  const minute = 60 * second;
  const hour = 60 * minute;
  const day = 24 * hour;

  test.each([
    [0, "0s"],
    [999, "0s"],
    [45 * second, "45s"],
    [5 * minute + 3 * second, "5m 3s"],
    [7 * minute, "7m"],
    [3 * hour + 12 * minute + 59 * second, "3h 12m"],
    [2 * day + 4 * hour + 30 * minute, "2d 4h"],
    [40 * day, "40d"],
    [-(3 * hour), "-3h"],
  ])("an age of %p ms reads %p", (milliseconds, text) => {
    expect(formatAge(milliseconds)).toBe(text);
  });

  test.each([
    [250, "0.25s"],
    [1234, "1.2s"],
    [30 * second, "30s"],
    [90 * second, "1m 30s"],
  ])("a duration of %p ms reads %p", (milliseconds, text) => {
    expect(formatDuration(milliseconds)).toBe(text);
  });
});
