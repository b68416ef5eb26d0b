import { describe, expect, test } from "bun:test";
import { nonEmptyLines, safeFileName } from "../../../plugins/dump-output.ts";

describe("safeFileName", () => {
  const cases: [string, string][] = [
    ["shop", "shop"],
    ["shop_2026.eu-1", "shop_2026.eu-1"],
    ["my shop", "my%20shop"],
    ["..", "%2E."],
    [".hidden", "%2Ehidden"],
    ["a/b", "a%2Fb"],
    ["café", "caf%C3%A9"],
    ["100%", "100%25"],
  ];
  test.each(cases)("%p → %p", (name, expected) => {
    expect(safeFileName(name)).toBe(expected);
  });
});

describe("nonEmptyLines", () => {
  test("drops blank lines and trailing blanks", () => {
    expect(nonEmptyLines("a  \n\n b\n\t\n")).toEqual(["a", " b"]);
  });
});
