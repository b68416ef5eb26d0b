import { describe, expect, test } from "bun:test";
import { splitShellWords } from "../../../mod/config/shell-words.ts";
import { BackupError } from "../../../mod/lib/errors.ts";

describe("option strings split like a shell splits words", () => {
  test.each([
    ["--exclude 'a b'", ["--exclude", "a b"]],
    ['--exclude "a b"', ["--exclude", "a b"]],
    [
      "--compression max  --exclude-if-present .backup_ignore",
      ["--compression", "max", "--exclude-if-present", ".backup_ignore"],
    ],
    ["a\\ b c", ["a b", "c"]],
    ["--name='it''s'", ["--name=its"]],
    [`"say \\"hi\\"" 'back\\slash'`, ['say "hi"', "back\\slash"]],
    ["''", [""]],
    ["", []],
    ["   ", []],
    ["pre'quoted part'post", ["prequoted partpost"]],
    ["--tab\tseparated\nlines", ["--tab", "separated", "lines"]],
  ])("%p → %j", (text, words) => {
    expect(splitShellWords(text)).toEqual(words);
  });

  test("nothing is expanded: $, backticks and globs stay literal", () => {
    expect(splitShellWords("$HOME `id` $(touch x) *.sql")).toEqual([
      "$HOME",
      "`id`",
      "$(touch",
      "x)",
      "*.sql",
    ]);
  });

  test.each(["--exclude 'a b", '--exclude "a b', "trailing\\"])(
    "%p is refused with a clear error",
    (text) => {
      expect(() => splitShellWords(text)).toThrow(BackupError);
    },
  );

  test("an unclosed quote names the quote in the error", () => {
    expect(() => splitShellWords("--exclude 'a b")).toThrow(/' quote is not closed/);
  });
});
