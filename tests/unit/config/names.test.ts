import { describe, expect, test } from "bun:test";
import { isSafeName, nameProblem } from "../../../mod/lib/names.ts";

describe("names that become paths", () => {
  test.each(["web01", "web01.example.org", "nextcloud", "my_app-2", "A1", "0"])("%p is accepted", (name) => {
    expect(nameProblem(name)).toBeUndefined();
    expect(isSafeName(name)).toBe(true);
  });

  test.each(["../x", "..", ".", "-x", "bad name", "a/b", "", ".hidden", "_x", "x\ny", "tab\there", "ä"])(
    "%p is refused",
    (name) => {
      expect(isSafeName(name)).toBe(false);
      expect(nameProblem(name)).toBeString();
    },
  );

  test("a name longer than a file system allows is refused", () => {
    expect(nameProblem("a".repeat(256))).toContain("255");
    expect(isSafeName("a".repeat(255))).toBe(true);
  });
});
