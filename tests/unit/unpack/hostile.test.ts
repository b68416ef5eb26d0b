// The hostile-archive corpus (threats.md 3.A): every archive is refused, names the entry, and leaves
// every byte, mode, mtime and link count outside the target as it was.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BackupError } from "../../../mod/lib/errors.ts";
import { removeTree } from "../../../mod/server/unpack/target-directory.ts";
import { archive, concat, gnuLongHeader, headerBlock, member, paxHeader } from "./tarWriter.ts";
import {
  compress,
  makeWorkspace,
  removeWorkspace,
  sha256,
  snapshotOutside,
  unpackCompressed,
  unpackTar,
  type Workspace,
} from "./workspace.ts";

let workspace: Workspace;
let before: string[];

beforeEach(() => {
  workspace = makeWorkspace();
  before = snapshotOutside(workspace);
});

afterEach(() => {
  removeWorkspace(workspace);
});

/** Unpacks, expects a BackupError matching message, removes the target and checks nothing outside changed. */
async function expectRefused(unpack: () => Promise<unknown>, message: RegExp): Promise<BackupError> {
  let caught: unknown;
  try {
    await unpack();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(BackupError);
  expect((caught as BackupError).message).toMatch(message);
  await removeTree(workspace.target);
  expect(existsSync(workspace.target)).toBe(false);
  expect(snapshotOutside(workspace)).toEqual(before);
  return caught as BackupError;
}

const file = (name: string, data = "x") => member({ name, data });

/** Returns size, mtime, link count and a hash of a system file, or "absent". */
function systemFileState(path: string): string {
  if (!existsSync(path)) return "absent";
  const stat = lstatSync(path, { bigint: true });
  return `${stat.size} ${stat.mtimeNs} ${stat.nlink} ${sha256(readFileSync(path))}`;
}

describe("path traversal and absolute paths", () => {
  const escape = `backupctl-unpack-escape-${process.pid}`;
  const cases: [string, string, RegExp][] = [
    ["a parent-directory member", "../x", /"\.\.\/x".*"\.\." component/],
    ["a member that climbs out after descending", "a/../../x", /"a\/\.\.\/\.\.\/x".*"\.\." component/],
    ["an absolute member", `/etc/${escape}`, /absolute path/],
    ["an absolute member with repeated slashes", `////tmp/${escape}`, /absolute path/],
    ["a member whose name is only ..", "..", /"\.\." component/],
  ];
  for (const [what, name, message] of cases) {
    test(`unpack refuses ${what} (${name})`, async () => {
      await expectRefused(() => unpackTar(archive(file("ok"), file(name)), workspace), message);
      expect(existsSync(`/etc/${escape}`)).toBe(false);
      expect(existsSync(`/tmp/${escape}`)).toBe(false);
    });
  }

  test("unpack refuses a PAX path of ../x even though the header name is harmless", async () => {
    const tar = archive(
      paxHeader({ path: "../x" }),
      member({ name: "harmless", data: "x", format: "posix" }),
    );
    await expectRefused(() => unpackTar(tar, workspace), /"\.\.\/x".*"\.\." component/);
  });

  test("unpack refuses a GNU long name that climbs out", async () => {
    const tar = archive(gnuLongHeader(`${"a/".repeat(60)}${"../".repeat(61)}x`), file("ignored"));
    await expectRefused(() => unpackTar(tar, workspace), /"\.\." component/);
  });

  test("unpack refuses a hardlink whose target climbs out", async () => {
    const tar = archive(member({ name: "h", type: "1", linkName: "../outside/f" }));
    await expectRefused(() => unpackTar(tar, workspace), /hardlink target "\.\.\/outside\/f" is refused/);
  });

  test("unpack escapes control characters when it names a refused member", async () => {
    const error = await expectRefused(
      () => unpackTar(archive(file("../evil\n\x1b[31mname")), workspace),
      /"/,
    );
    expect(error.message).toContain('"../evil\\x0a\\x1b[31mname"');
    expect(error.message).not.toContain("\n");
  });
});

describe("links", () => {
  test("unpack refuses a member written through a symlink planted earlier (d -> outside, then d/pwned)", async () => {
    const tar = archive(
      member({ name: "d", type: "2", linkName: workspace.outside }),
      file("d/pwned", "pwned"),
    );
    await expectRefused(() => unpackTar(tar, workspace), /"d\/pwned".*parent "d" is a symlink/);
    expect(existsSync(join(workspace.outside, "pwned"))).toBe(false);
  });

  test("unpack refuses a relative symlink to outside followed by a member beneath it", async () => {
    const tar = archive(member({ name: "d", type: "2", linkName: "../outside/d" }), file("d/sub/pwned"));
    await expectRefused(() => unpackTar(tar, workspace), /parent "d" is a symlink/);
  });

  test("unpack refuses a regular file replacing a symlink to a file outside (f -> passwd, then f)", async () => {
    const passwd = join(workspace.root, "passwd");
    const tar = archive(member({ name: "f", type: "2", linkName: passwd }), file("f", "owned\n"));
    await expectRefused(() => unpackTar(tar, workspace), /"f".*appears twice.*first as a symlink/);
  });

  test("unpack refuses f -> /etc/passwd followed by a regular f, and /etc/passwd is untouched", async () => {
    const passwdBefore = systemFileState("/etc/passwd");
    const tar = archive(member({ name: "f", type: "2", linkName: "/etc/passwd" }), file("f", "owned\n"));
    await expectRefused(() => unpackTar(tar, workspace), /"f".*appears twice.*first as a symlink/);
    expect(systemFileState("/etc/passwd")).toEqual(passwdBefore);
  });

  test("unpack refuses a hardlink to /etc/shadow, and its link count is unchanged", async () => {
    const shadowBefore = systemFileState("/etc/shadow");
    const tar = archive(member({ name: "shadow", type: "1", linkName: "/etc/shadow" }), file("shadow", "x"));
    await expectRefused(() => unpackTar(tar, workspace), /hardlink target "\/etc\/shadow" is refused/);
    expect(systemFileState("/etc/shadow")).toEqual(shadowBefore);
  });

  test("unpack refuses a symlink chain (a -> ., then a/a/x)", async () => {
    const tar = archive(member({ name: "a", type: "2", linkName: "." }), file("a/a/x"));
    await expectRefused(() => unpackTar(tar, workspace), /parent "a\/a"|parent "a" is a symlink/);
  });

  test("unpack refuses a hardlink to an absolute path outside, and a member of the same name after it", async () => {
    const passwd = join(workspace.root, "passwd");
    const tar = archive(member({ name: "shadow", type: "1", linkName: passwd }), file("shadow", "owned\n"));
    await expectRefused(
      () => unpackTar(tar, workspace),
      /"shadow".*hardlink target ".*passwd" is refused: .*absolute/,
    );
  });

  test("unpack refuses a hardlink to a symlink of the same archive", async () => {
    const tar = archive(
      member({ name: "s", type: "2", linkName: workspace.outside }),
      member({ name: "h", type: "1", linkName: "s" }),
    );
    await expectRefused(() => unpackTar(tar, workspace), /"h".*not an earlier regular file/);
  });

  test("unpack refuses a hardlink through a symlink of the same archive (s -> outside, h -> s/f)", async () => {
    const tar = archive(
      member({ name: "s", type: "2", linkName: workspace.outside }),
      member({ name: "h", type: "1", linkName: "s/f" }),
    );
    await expectRefused(() => unpackTar(tar, workspace), /"h".*"s\/f" is not an earlier regular file/);
  });

  test("unpack refuses a hardlink to a file that comes later in the archive", async () => {
    const tar = archive(member({ name: "h", type: "1", linkName: "later" }), file("later"));
    await expectRefused(() => unpackTar(tar, workspace), /not an earlier regular file/);
  });

  test("unpack refuses a member beneath a regular file", async () => {
    await expectRefused(
      () => unpackTar(archive(file("x"), file("x/y")), workspace),
      /parent "x" is a regular file/,
    );
  });
});

describe("special files and unknown types", () => {
  const cases: [string, string, RegExp][] = [
    ["a character device (1,1)", "3", /character device is not allowed/],
    ["a block device", "4", /block device is not allowed/],
    ["a FIFO", "6", /FIFO is not allowed/],
    ["a GNU sparse file", "S", /GNU sparse file is not allowed/],
    ["an unknown type flag", "Z", /unknown entry type "Z"/],
    ["a GNU volume label", "V", /volume label/],
  ];
  for (const [what, type, message] of cases) {
    test(`unpack refuses ${what} and creates no special file`, async () => {
      const tar = archive(file("before"), member({ name: "special", type, devMajor: 1, devMinor: 1 }));
      await expectRefused(() => unpackTar(tar, workspace), message);
    });
  }

  test("unpack refuses PAX GNU sparse records", async () => {
    const tar = archive(paxHeader({ "GNU.sparse.major": "1", "GNU.sparse.minor": "0" }), file("f"));
    await expectRefused(() => unpackTar(tar, workspace), /GNU sparse files are not supported/);
  });
});

describe("duplicates", () => {
  const cases: [string, Uint8Array[]][] = [
    ["the same file twice", [file("a"), file("a")]],
    ["a file, then a directory of the same name", [file("a"), member({ name: "a/", type: "5" })]],
    [
      "a directory, then a symlink of the same name",
      [member({ name: "a/", type: "5" }), member({ name: "a", type: "2", linkName: "/" })],
    ],
    ["the same directory twice", [member({ name: "a/", type: "5" }), member({ name: "./a", type: "5" })]],
    ["two names that normalise to one (a//b and ./a/b)", [file("a//b"), file("./a/b")]],
    ["a hardlink over its own target", [file("a"), member({ name: "a", type: "1", linkName: "a" })]],
  ];
  for (const [what, members] of cases) {
    test(`unpack refuses ${what}`, async () => {
      await expectRefused(() => unpackTar(archive(...members), workspace), /appears twice/);
    });
  }
});

describe("caps", () => {
  test("unpack stops a gzip bomb at the byte cap (60 MB of zeros, cap 50 MB)", async () => {
    const zeros = new Uint8Array(60 * 1024 * 1024);
    const tar = concat([headerBlock({ name: "bomb", size: zeros.length }), zeros, new Uint8Array(1024)]);
    const compressed = compress(tar, "gzip");
    expect(compressed.length).toBeLessThan(200_000);
    await expectRefused(
      () => unpackCompressed(compressed, workspace, { maxBytes: 50 * 1024 * 1024 }),
      /"bomb".*would exceed the cap of 52428800/,
    );
  });

  test("unpack stops a stream of small members at the byte cap", async () => {
    const members = Array.from({ length: 40 }, (_unused, index) =>
      member({ name: `f${index}`, data: "z".repeat(100_000) }),
    );
    await expectRefused(
      () => unpackTar(archive(...members), workspace, { maxBytes: 1_000_000 }),
      /more than 1000000 bytes|exceed the cap/,
    );
  });

  test("unpack refuses a header claiming a terabyte", async () => {
    const tar = archive(paxHeader({ size: String(2 ** 40) }), member({ name: "huge", size: 0 }));
    await expectRefused(() => unpackTar(tar, workspace), /"huge".*1099511627776 bytes would exceed the cap/);
  });

  test("unpack stops at the entry cap", async () => {
    const members = Array.from({ length: 101 }, (_unused, index) => file(`f${index}`));
    await expectRefused(
      () => unpackTar(archive(...members), workspace, { maxEntries: 100 }),
      /more than 100 entries/,
    );
  });

  test("unpack refuses a name deeper than the depth cap", async () => {
    const tar = archive(paxHeader({ path: `${"a/".repeat(1000)}x` }), file("x"));
    await expectRefused(() => unpackTar(tar, workspace), /1001 directories deep \(the cap is 512\)/);
  });

  test("unpack refuses nested directory members past the depth cap", async () => {
    const members = Array.from({ length: 40 }, (_unused, index) =>
      member({ name: `${"d/".repeat(index + 1)}`, type: "5" }),
    );
    const tar = archive(gnuLongHeader("d/".repeat(41)), member({ name: "x", type: "5" }));
    await expectRefused(
      () => unpackTar(concat([...members.slice(0, -1), tar]), workspace, { maxDepth: 30 }),
      /deep \(the cap is 30\)/,
    );
  });

  test("unpack refuses a 5000-byte path", async () => {
    const tar = archive(gnuLongHeader(`${`${"n".repeat(199)}/`.repeat(24)}${"n".repeat(200)}`), file("x"));
    const error = await expectRefused(() => unpackTar(tar, workspace), /5000 bytes long \(the cap is 4000\)/);
    expect(error.message).toContain("…(5000 bytes)");
    expect(error.message.length).toBeLessThan(400);
  });

  test("unpack refuses a name component longer than 255 bytes", async () => {
    await expectRefused(
      () => unpackTar(archive(gnuLongHeader("n".repeat(300)), file("x")), workspace),
      /300 bytes long \(the limit is 255\)/,
    );
  });
});

describe("header tricks", () => {
  test("unpack refuses a PAX size that differs from the header size (TARmageddon)", async () => {
    const inner = archive(file("smuggled", "evil"));
    const tar = archive(paxHeader({ size: "0" }), member({ name: "carrier", data: inner, format: "posix" }));
    await expectRefused(
      () => unpackTar(tar, workspace),
      /"carrier".*PAX size 0 differs from the header size 2048/,
    );
  });

  test("unpack refuses a header whose checksum is wrong", async () => {
    await expectRefused(
      () => unpackTar(archive(member({ name: "f", checksumDelta: 1 })), workspace),
      /checksum does not match/,
    );
  });

  test("unpack refuses a header without ustar magic (v7 tar)", async () => {
    await expectRefused(
      () => unpackTar(archive(member({ name: "f", format: "v7" })), workspace),
      /not a ustar, GNU or PAX tar header/,
    );
  });

  test("unpack refuses a global PAX header that sets a path", async () => {
    await expectRefused(
      () => unpackTar(archive(paxHeader({ path: "x" }, { isGlobal: true }), file("f")), workspace),
      /global PAX header sets "path"/,
    );
  });

  test("unpack refuses a PAX path together with a GNU long name", async () => {
    const tar = archive(paxHeader({ path: "one" }), gnuLongHeader("two"), file("three"));
    await expectRefused(() => unpackTar(tar, workspace), /both a PAX path and a GNU long name/);
  });

  test("unpack refuses a PAX path with a NUL byte", async () => {
    await expectRefused(
      () => unpackTar(archive(paxHeader({ path: "a\0/../../x" }), file("f")), workspace),
      /NUL byte/,
    );
  });

  test("unpack refuses a repeated key in one PAX header", async () => {
    const records = new TextEncoder().encode("11 path=ab\n11 path=cd\n");
    const tar = archive(member({ name: "p", type: "x", format: "posix", data: records }), file("f"));
    await expectRefused(() => unpackTar(tar, workspace), /"path" appears twice/);
  });

  test("unpack refuses a malformed PAX record length", async () => {
    const tar = archive(member({ name: "p", type: "x", data: "99 path=ab\n" }), file("f"));
    await expectRefused(() => unpackTar(tar, workspace), /overruns its header/);
  });

  test("unpack refuses a directory or symlink that carries data", async () => {
    await expectRefused(
      () => unpackTar(archive(member({ name: "d/", type: "5", data: "hidden" })), workspace),
      /directory entry carries 6 bytes/,
    );
  });

  test("unpack refuses a regular file whose name ends with a slash", async () => {
    await expectRefused(() => unpackTar(archive(file("dir/")), workspace), /a file name ends with "\/"/);
  });

  test("unpack refuses an empty name", async () => {
    await expectRefused(() => unpackTar(archive(file("")), workspace), /the name is empty/);
  });

  test("unpack refuses a regular file named ./ (the archive root)", async () => {
    await expectRefused(() => unpackTar(archive(file("./")), workspace), /ends with "\/"|empty name/);
  });

  test("unpack refuses a symlink with an empty target", async () => {
    await expectRefused(
      () => unpackTar(archive(member({ name: "s", type: "2" })), workspace),
      /empty target/,
    );
  });

  test("unpack refuses an extended header that no member follows", async () => {
    await expectRefused(
      () => unpackTar(archive(file("f"), paxHeader({ path: "x" })), workspace),
      /not followed by an entry/,
    );
  });
});

for (const decompressor of ["process", "inline"] as const) {
  describe(`truncation and corruption (${decompressor} decompression)`, () => {
    const tar = archive(file("a", "a".repeat(5000)), file("b", "b".repeat(300_000)));

    test("unpack refuses a tar without end-of-archive blocks", async () => {
      await expectRefused(
        () => unpackTar(tar.subarray(0, tar.length - 1024), workspace, { decompressor }),
        /without the end-of-archive marker/,
      );
    });

    test("unpack refuses a lone zero block followed by more members", async () => {
      const sneaky = concat([file("a"), new Uint8Array(512), file("b"), new Uint8Array(1024)]);
      await expectRefused(() => unpackTar(sneaky, workspace, { decompressor }), /lone zero block/);
    });

    test("unpack refuses data after the end-of-archive marker", async () => {
      await expectRefused(
        () => unpackTar(concat([tar, file("hidden")]), workspace, { decompressor }),
        /non-zero data at byte \d+ after the end-of-archive marker/,
      );
    });

    test("unpack refuses a tar cut inside a member", async () => {
      await expectRefused(
        () => unpackTar(tar.subarray(0, 7000), workspace, { decompressor }),
        /"b": the archive ends inside its data/,
      );
    });

    for (const compression of ["gzip", "zstd"] as const) {
      test(`unpack refuses a ${compression} stream cut at 50%`, async () => {
        const compressed = compress(tar, compression);
        const cut = compressed.subarray(0, Math.floor(compressed.length / 2));
        await expectRefused(
          () => unpackCompressed(cut, workspace, { decompressor, compression }),
          /decompress|ends inside|end-of-archive/,
        );
      });

      test(`unpack names the size mismatch for a ${compression} stream cut at 50% with a sidecar`, async () => {
        const compressed = compress(tar, compression);
        const cut = compressed.subarray(0, Math.floor(compressed.length / 2));
        await expectRefused(
          () =>
            unpackCompressed(cut, workspace, {
              decompressor,
              compression,
              expectedSize: compressed.length,
              expectedSha256: sha256(compressed),
            }),
          new RegExp(`${cut.length} bytes arrived, the archive has ${compressed.length}`),
        );
      });

      test(`unpack refuses an empty ${compression} input`, async () => {
        await expectRefused(
          () => unpackCompressed(new Uint8Array(0), workspace, { decompressor, compression }),
          /decompress|end-of-archive/,
        );
      });
    }

    test("unpack refuses a gzip stream without its trailer", async () => {
      const compressed = compress(tar, "gzip");
      await expectRefused(
        () => unpackCompressed(compressed.subarray(0, compressed.length - 8), workspace, { decompressor }),
        /decompress/,
      );
    });

    test("unpack reports a checksum mismatch for one flipped byte", async () => {
      const compressed = compress(tar, "gzip");
      const expectedSha256 = sha256(compressed);
      const flipped = compressed.slice();
      const middle = Math.floor(flipped.length / 2);
      flipped[middle] = (flipped[middle] as number) ^ 0x01;
      const error = await expectRefused(
        () =>
          unpackCompressed(flipped, workspace, {
            decompressor,
            expectedSha256,
            expectedSize: compressed.length,
          }),
        new RegExp(`sha256 is ${sha256(flipped)}, the sidecar says ${expectedSha256}`),
      );
      expect(error.hint).toMatch(/corrupted or altered/);
    });

    test("unpack refuses a sound archive whose sidecar checksum differs", async () => {
      const compressed = compress(tar, "gzip");
      await expectRefused(
        () => unpackCompressed(compressed, workspace, { decompressor, expectedSha256: "0".repeat(64) }),
        /the sidecar says 0{64}/,
      );
    });

    test("unpack refuses more bytes than the expected size as they arrive", async () => {
      const compressed = compress(tar, "gzip");
      await expectRefused(
        () => unpackCompressed(compressed, workspace, { decompressor, expectedSize: 100 }),
        /more than the expected 100 bytes arrived/,
      );
    });

    test("unpack refuses zstd data announced as gzip", async () => {
      await expectRefused(
        () => unpackCompressed(compress(tar, "zstd"), workspace, { decompressor, compression: "gzip" }),
        /decompress/,
      );
    });
  });
}
