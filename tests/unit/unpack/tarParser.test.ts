// The streaming parser on its own: the PAX rules it applies, numbers in every encoding, and the same
// entries whatever the chunk boundaries.

import { describe, expect, test } from "bun:test";
import { BackupError } from "../../../mod/lib/errors.ts";
import { normalizeEntryPath } from "../../../mod/lib/tar/entry-path.ts";
import { readNumber } from "../../../mod/lib/tar/header.ts";
import { type TarEntry, TarParser } from "../../../mod/lib/tar/parser.ts";
import { archive, concat, gnuLongHeader, headerBlock, member, paxHeader } from "./tarWriter.ts";

/** What the sink saw: each entry with its data as text. */
interface Parsed {
  entry: TarEntry;
  data: string;
}

/** Parses tar bytes fed in chunks of the given sizes (cycled); returns the entries. Throws what the parser throws. */
function parse(tar: Uint8Array, chunkSizes: number[] = [tar.length || 1]): Parsed[] {
  const parsed: Parsed[] = [];
  const decoder = new TextDecoder();
  const parser = new TarParser(
    {
      entry: (entry) => parsed.push({ entry, data: "" }),
      data: (bytes) => {
        const last = parsed[parsed.length - 1] as Parsed;
        last.data += decoder.decode(bytes);
      },
      entryEnd: () => undefined,
    },
    { maxBytes: 1e9, maxEntries: 1e6 },
  );
  let offset = 0;
  for (let index = 0; offset < tar.length; index++) {
    const size = chunkSizes[index % chunkSizes.length] as number;
    parser.write(tar.subarray(offset, offset + size));
    offset += size;
  }
  parser.end();
  return parsed;
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");

describe("TarParser", () => {
  const sample = archive(
    member({ name: "dir/", type: "5", mode: 0o755 }),
    paxHeader({ path: "dir/pax-name", mtime: "1700000000.5", uid: "3000000" }),
    member({ name: "dir/short", data: "x".repeat(1000), format: "posix" }),
    gnuLongHeader(`dir/${"l".repeat(150)}`),
    member({ name: "ignored", data: "long" }),
    member({ name: "dir/link", type: "2", linkName: "/etc/localtime" }),
  );

  test("parses the same entries whatever the chunk boundaries", () => {
    const whole = parse(sample);
    expect(whole.map(({ entry, data }) => [text(entry.path), entry.type, data.length])).toEqual([
      ["dir/", "directory", 0],
      ["dir/pax-name", "file", 1000],
      [`dir/${"l".repeat(150)}`, "file", 4],
      ["dir/link", "symlink", 0],
    ]);
    for (const sizes of [[1], [511, 2, 700], [512], [4096, 13]]) {
      expect(parse(sample, sizes).map(({ entry, data }) => [text(entry.path), data])).toEqual(
        whole.map(({ entry, data }) => [text(entry.path), data]),
      );
    }
  });

  test("applies PAX mtime (with its fraction) and a uid too large for the header", () => {
    const entry = (parse(sample)[1] as Parsed).entry;
    expect(entry.mtime).toBe(1_700_000_000.5);
    expect(entry.uid).toBe(3_000_000);
  });

  test("uses a PAX size when the header's size field is 0", () => {
    // the data block after the header holds the 5 bytes the PAX size announces
    const data = new Uint8Array(512).fill(0x61, 0, 5);
    const tar = concat([
      paxHeader({ size: "5" }),
      headerBlock({ name: "f", size: 0 }),
      data,
      new Uint8Array(1024),
    ]);
    expect(parse(tar).map(({ entry, data }) => [text(entry.path), entry.size, data])).toEqual([
      ["f", 5, "aaaaa"],
    ]);
  });

  test("accepts a PAX size equal to the header size", () => {
    const tar = archive(paxHeader({ size: "3" }), member({ name: "f", data: "abc" }));
    expect(parse(tar).map(({ data }) => data)).toEqual(["abc"]);
  });

  test("refuses a PAX size larger than a header size that is not saturated", () => {
    const tar = archive(paxHeader({ size: "1024" }), member({ name: "f", data: "abc" }));
    expect(() => parse(tar)).toThrow(/PAX size 1024 differs from the header size 3/);
  });

  test("applies global PAX records to every later entry, and an empty 'x' value unsets them", () => {
    const tar = archive(
      paxHeader({ mtime: "1234", gid: "77" }, { isGlobal: true }),
      member({ name: "a", data: "1" }),
      paxHeader({ gid: "" }),
      member({ name: "b", data: "2", gid: 5 }),
    );
    const [first, second] = parse(tar).map(({ entry }) => entry) as [TarEntry, TarEntry];
    expect([first.mtime, first.gid]).toEqual([1234, 77]);
    expect([second.mtime, second.gid]).toEqual([1234, 5]);
  });

  test("refuses a malformed PAX number", () => {
    expect(() => parse(archive(paxHeader({ uid: "12x" }), member({ name: "f" })))).toThrow(
      /PAX uid "12x" is not a valid number/,
    );
  });

  test("refuses two long names before one entry", () => {
    expect(() => parse(archive(gnuLongHeader("a"), gnuLongHeader("b"), member({ name: "f" })))).toThrow(
      /two "L" extended headers/,
    );
  });

  test("joins the POSIX prefix and name fields", () => {
    const tar = archive(member({ name: "file", prefix: "some/prefix", format: "posix", data: "p" }));
    expect(parse(tar).map(({ entry }) => text(entry.path))).toEqual(["some/prefix/file"]);
  });

  test("ignores the prefix area of GNU headers (it holds atime/ctime there)", () => {
    const block = headerBlock({ name: "file", size: 0, format: "gnu" });
    expect(parse(archive(block)).map(({ entry }) => text(entry.path))).toEqual(["file"]);
  });

  test("throws BackupError, not a crash, for a header of random bytes", () => {
    const noise = new Uint8Array(512).map((_unused, index) => (index * 131 + 7) % 251);
    expect(() => parse(concat([noise, new Uint8Array(1024)]))).toThrow(BackupError);
  });

  test("stops at the byte cap even when it falls inside one chunk", () => {
    const parser = new TarParser(
      { entry() {}, data() {}, entryEnd() {} },
      { maxBytes: 1000, maxEntries: 10 },
    );
    expect(() => parser.write(new Uint8Array(1001))).toThrow(/more than 1000 bytes/);
  });
});

describe("readNumber", () => {
  const field = (bytes: number[]) => {
    const block = new Uint8Array(12);
    block.set(bytes);
    return readNumber(block, 0, 12);
  };
  const octal = (textValue: string) => field([...new TextEncoder().encode(textValue)]);
  const cases: [string, number | undefined][] = [
    ["00000000644\0", 0o644],
    ["     644 \0", 0o644],
    ["644", 0o644],
    ["", 0],
    ["77777777777\0", 0o77777777777],
    ["0008\0", undefined],
    ["12 34\0", undefined],
    ["-1\0", undefined],
  ];
  for (const [value, expected] of cases) {
    test(`reads the octal field ${JSON.stringify(value)} as ${expected}`, () => {
      expect(octal(value)).toBe(expected as number);
    });
  }

  test("reads GNU base-256 numbers, positive and negative", () => {
    expect(field([0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])).toBe(2 ** 32);
    expect(field([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe])).toBe(-2);
  });

  test("refuses a base-256 number past 2^53", () => {
    expect(field([0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).toBeUndefined();
  });
});

describe("normalizeEntryPath", () => {
  const limits = { maxDepth: 4, maxPathBytes: 100 };
  const cases: [string, string | RegExp][] = [
    ["a/b/c", "a/b/c"],
    ["./a//b/./c/", "a/b/c"],
    ["./", ""],
    ["a\\..\\b", "a\\..\\b"],
    ["a\xff\xfe", "a\xff\xfe"],
    ["../a", /".." component/],
    ["a/..", /".." component/],
    ["/a", /absolute/],
    ["", /empty/],
    ["a/b/c/d/e", /5 directories deep/],
    ["x".repeat(101), /101 bytes long/],
  ];
  for (const [raw, expected] of cases) {
    test(`normalises ${JSON.stringify(raw)}`, () => {
      const result = normalizeEntryPath(raw, limits);
      if (typeof expected === "string") expect(result).toMatchObject({ key: expected });
      else expect("problem" in result ? result.problem : "").toMatch(expected);
    });
  }
});
