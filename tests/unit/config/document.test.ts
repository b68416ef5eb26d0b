import { describe, expect, test } from "bun:test";
import { locate, parseYamlText } from "../../../mod/config/document.ts";
import { formatIssue } from "../../../mod/config/issues.ts";
import { closestMatch, didYouMean, editDistance } from "../../../mod/config/suggest.ts";
import { dedent } from "./fixtures.ts";

describe("reading YAML with positions", () => {
  test("every key and value keeps its line and column", () => {
    const document = parseYamlText(
      dedent(`
        global:
          concurrency: 4
        hosts:
          - hostname: web01
            port: 22
      `),
      "server_config.yml",
    );
    expect(document.issues).toEqual([]);
    expect(locate(document, ["global", "concurrency"])).toEqual({
      file: "server_config.yml",
      line: 2,
      column: 16,
    });
    expect(locate(document, ["global", "concurrency"], { atKey: true })).toMatchObject({
      line: 2,
      column: 3,
    });
    expect(locate(document, ["hosts", 0, "port"])).toMatchObject({ line: 5, column: 11 });
    // a key that is not in the file is placed at its nearest ancestor's key
    expect(locate(document, ["hosts", 0, "ssh_user"])).toMatchObject({ line: 4, column: 5 });
    expect(locate(document, ["restic", "password_file"])).toMatchObject({ line: 1, column: 1 });
  });

  test("a syntax error is reported at its line and the file is not validated further", () => {
    const document = parseYamlText("a: 1\nb: [1, 2\nc: 3\n", "x.yml");
    expect(document.isBroken).toBe(true);
    expect(document.issues.map(formatIssue)).toEqual([
      expect.stringMatching(
        /^x\.yml:3:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented/,
      ),
    ]);
  });

  test("a duplicate key is an error at the second one", () => {
    const document = parseYamlText("keep_days: 3\nkeep_days: 4\n", "x.yml");
    expect(document.issues.map((issue) => [issue.line, issue.message])).toEqual([
      [2, "YAML syntax error: Map keys must be unique"],
    ]);
  });

  test("several documents in one file are an error", () => {
    const document = parseYamlText("a: 1\n---\nb: 2\n", "x.yml");
    expect(document.issues[0]?.message).toContain("multiple documents");
  });

  test("an alias bomb is refused instead of expanded", () => {
    const levels = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]'];
    for (let level = 1; level < 8; level++) {
      const previous = String.fromCharCode(96 + level);
      const current = String.fromCharCode(97 + level);
      levels.push(`${current}: &${current} [${Array(10).fill(`*${previous}`).join(", ")}]`);
    }
    const document = parseYamlText(`${levels.join("\n")}\n`, "bomb.yml");
    expect(document.isBroken).toBe(true);
    expect(document.issues.map((issue) => issue.message)).toContain(
      "the file expands to too many values (an alias bomb?)",
    );
  });

  test("a few aliases are expanded normally", () => {
    const document = parseYamlText("base: &base {port: 22}\nhost: *base\n", "x.yml");
    expect(document.issues).toEqual([]);
    expect(document.value).toEqual({ base: { port: 22 }, host: { port: 22 } });
  });

  test("YAML 1.2 rules: yes and on are strings, false and 0 are themselves", () => {
    const document = parseYamlText("a: yes\nb: on\nc: false\nd: 0\ne: ~\n", "x.yml");
    expect(document.value).toEqual({ a: "yes", b: "on", c: false, d: 0, e: null });
  });

  test("an empty file has no value", () => {
    expect(parseYamlText("# only a comment\n", "x.yml").value).toBeNull();
  });
});

describe("did-you-mean", () => {
  test("edit distance counts insertions, deletions and substitutions", () => {
    expect(editDistance("exlcude", "exclude")).toBe(2);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("same", "same")).toBe(0);
  });

  test("suggests the closest key only when it is close", () => {
    const keys = ["paths", "exclude", "rsync_options"];
    expect(didYouMean("exlcude", keys)).toBe('did you mean "exclude"?');
    expect(didYouMean("path", keys)).toBe('did you mean "paths"?');
    expect(didYouMean("Exclude", keys)).toBe('did you mean "exclude"?');
    expect(didYouMean("rsync", keys)).toBe('did you mean "rsync_options"?');
    expect(closestMatch("compression", keys)).toBeUndefined();
  });
});
