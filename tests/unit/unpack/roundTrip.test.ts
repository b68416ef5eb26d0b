// Archives written by GNU tar (gnu and posix formats, gzip and zstd) unpack byte-exact and
// metadata-exact: names (non-UTF-8 and LF included), contents, modes with setuid/setgid/sticky,
// owners, mtimes, absolute and relative symlinks, hardlinks, long names and long link targets.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { removeTree } from "../../../mod/server/unpack/target-directory.ts";
import {
  compress,
  makeWorkspace,
  removeWorkspace,
  sha256,
  unpackCompressed,
  type Workspace,
} from "./workspace.ts";

const isRoot = process.geteuid?.() === 0;
let workspace: Workspace;
let source: string;

/** Returns a Buffer path below source from latin1 name bytes. */
function sourcePath(name: string): Buffer {
  return Buffer.from(`${source}/${name}`, "latin1");
}

/** Builds the source tree; names are latin1 strings so "\xff" is the byte 0xff. */
function buildSourceTree(): void {
  const directories: [string, number][] = [
    ["etc", 0o755],
    ["data", 0o2775],
    ["sticky", 0o1777],
    ["readonly", 0o555],
    ["empty-dir", 0o700],
    [`long-${"x".repeat(120)}`, 0o750],
  ];
  for (const [name] of directories) mkdirSync(sourcePath(name));
  writeFileSync(
    sourcePath("manifest.json"),
    JSON.stringify({ version: 1, host: "web01", services: ["files/app"] }),
  );
  writeFileSync(sourcePath("etc/hosts"), "127.0.0.1 localhost\n");
  symlinkSync("/usr/share/zoneinfo/Etc/UTC", sourcePath("etc/localtime"));
  symlinkSync("../data/file", sourcePath("etc/relative"));
  symlinkSync(Buffer.from(`/${"z".repeat(150)}/\xff-target`, "latin1"), sourcePath("data/long-link"));
  writeFileSync(sourcePath("data/file"), randomBytes(200_000));
  linkSync(sourcePath("data/file"), sourcePath("data/hard"));
  writeFileSync(sourcePath("data/suid"), "#!/bin/sh\n");
  writeFileSync(sourcePath("data/empty"), "");
  writeFileSync(sourcePath("data/a\xff\xfe"), "not utf-8\n");
  writeFileSync(sourcePath("data/line\nfeed"), "lf\n");
  writeFileSync(sourcePath("data/caf\xc3\xa9 \u00e9"), "utf-8 and latin1\n");
  writeFileSync(sourcePath("readonly/inner"), "inside a 0555 directory\n");
  writeFileSync(sourcePath(`long-${"x".repeat(120)}/file-${"y".repeat(100)}`), "long path\n");
  writeFileSync(sourcePath("big.bin"), randomBytes(3 * 1024 * 1024 + 123));
  const modes: [string, number][] = [
    ["data/file", 0o640],
    ["data/suid", 0o4755],
    ["data/empty", 0o600],
    ["readonly/inner", 0o444],
    ["etc/hosts", 0o644],
  ];
  for (const [name, mode] of modes) chmodSync(sourcePath(name), mode);
  if (isRoot) {
    chownSync(sourcePath("data/file"), 1234, 2345);
    chownSync(sourcePath("data"), 0, 2345);
    lchownSync(sourcePath("etc/relative"), 1234, 1234);
    chmodSync(sourcePath("data/suid"), 0o4755);
  }
  // after chown, which clears setgid on directories' files but not the directory bits themselves
  for (const [name, mode] of directories) chmodSync(sourcePath(name), mode);
  // mtimes last, children before parents, each with a sub-second part
  const all = listTree(source).map(([name]) => name);
  all.sort((left, right) => right.split("/").length - left.split("/").length);
  let seconds = 1_600_000_000;
  for (const name of all) {
    seconds += 1000;
    lutimesSync(sourcePath(name), seconds + 0.25, seconds + 0.123456);
  }
}

/** One path's observable state, as a comparable line. */
type TreeLine = [name: string, description: string, inode: bigint];

/** Lists a tree below root (root excluded) with type, mode, owner, size, mtime, content hash and link target. */
function listTree(root: string, options: { mtimePrecisionNs?: bigint } = {}): TreeLine[] {
  const lines: TreeLine[] = [];
  const precision = options.mtimePrecisionNs ?? 1n;
  const walk = (relative: string) => {
    const path = Buffer.from(relative === "" ? root : `${root}/${relative}`, "latin1");
    if (relative !== "") {
      const stat = lstatSync(path, { bigint: true });
      let detail = "";
      if (stat.isFile()) detail = createHash("sha256").update(readFileSync(path)).digest("hex");
      if (stat.isSymbolicLink()) detail = readlinkSync(path, { encoding: "buffer" }).toString("latin1");
      const mtime = stat.mtimeNs / precision;
      const mode = stat.mode.toString(8);
      lines.push([
        relative,
        `${mode} ${stat.uid}:${stat.gid} ${stat.isDirectory() ? "-" : stat.size} ${mtime} ${detail}`,
        stat.ino,
      ]);
      if (!stat.isDirectory()) return;
    }
    for (const name of readdirSync(path, { encoding: "buffer" })) {
      const child = name.toString("latin1");
      walk(relative === "" ? child : `${relative}/${child}`);
    }
  };
  walk("");
  return lines.sort((left, right) => (left[0] < right[0] ? -1 : left[0] > right[0] ? 1 : 0));
}

/** Returns the tar of the source tree written by GNU tar in the given format. */
function gnuTar(format: "gnu" | "posix"): Uint8Array {
  const result = Bun.spawnSync(["tar", `--format=${format}`, "-C", source, "-cf", "-", "."], {
    stderr: "pipe",
  });
  if (result.exitCode !== 0) throw new Error(`tar failed: ${result.stderr.toString()}`);
  return result.stdout;
}

/** Returns how many members GNU tar lists in an archive. */
function countMembers(tar: Uint8Array): number {
  const result = Bun.spawnSync(["tar", "-tf", "-"], { stdin: tar, stdout: "pipe" });
  // names with a newline are listed escaped ("\n"), so lines are members
  return result.stdout.toString().trimEnd().split("\n").length;
}

beforeAll(() => {
  workspace = makeWorkspace();
  source = join(workspace.root, "source");
  mkdirSync(source);
  buildSourceTree();
});

afterAll(() => {
  removeWorkspace(workspace);
});

describe("GNU tar archives", () => {
  const cases = [
    ["gnu", "gzip"],
    ["gnu", "zstd"],
    ["posix", "gzip"],
    ["posix", "zstd"],
  ] as const;
  for (const [format, compression] of cases) {
    test(`unpack restores a --format=${format} ${compression} archive byte- and metadata-exact`, async () => {
      const tar = gnuTar(format);
      const compressed = compress(tar, compression);
      try {
        const result = await unpackCompressed(compressed, workspace, {
          compression,
          expectedSha256: sha256(compressed),
          expectedSize: compressed.length,
        });
        expect(result.sha256).toBe(sha256(compressed));
        expect(result.compressedBytes).toBe(compressed.length);
        expect(result.bytes).toBe(tar.length);
        // GNU tar lists "./" too, which is the target itself
        expect(result.entries).toBe(countMembers(tar));
        expect(result.manifest).toEqual({ version: 1, host: "web01", services: ["files/app"] });
        // the gnu format keeps whole seconds; posix keeps the sub-second part (to a microsecond here)
        const mtimePrecisionNs = format === "gnu" ? 1_000_000_000n : 1_000n;
        const expected = listTree(source, { mtimePrecisionNs });
        const actual = listTree(workspace.target, { mtimePrecisionNs });
        expect(actual.map(([name, description]) => [name, description])).toEqual(
          expected.map(([name, description]) => [name, description]),
        );
        const inodeOf = (lines: TreeLine[], name: string) => lines.find((line) => line[0] === name)?.[2];
        expect(inodeOf(actual, "data/hard")).toBe(inodeOf(actual, "data/file") as bigint);
        expect(lstatSync(workspace.target).mode & 0o7777).toBe(0o700);
      } finally {
        await removeTree(workspace.target);
      }
    });
  }

  test("unpack keeps setuid, setgid and sticky bits and the archived owners", async () => {
    const compressed = compress(gnuTar("gnu"), "gzip");
    try {
      await unpackCompressed(compressed, workspace, {});
      const modeOf = (name: string) => lstatSync(join(workspace.target, name)).mode & 0o7777;
      expect(modeOf("data/suid")).toBe(0o4755);
      expect(modeOf("data")).toBe(0o2775);
      expect(modeOf("sticky")).toBe(0o1777);
      expect(modeOf("readonly")).toBe(0o555);
      if (isRoot) {
        const stat = lstatSync(join(workspace.target, "data/file"));
        expect([stat.uid, stat.gid]).toEqual([1234, 2345]);
        const link = lstatSync(join(workspace.target, "etc/relative"));
        expect([link.uid, link.gid]).toEqual([1234, 1234]);
      }
    } finally {
      await removeTree(workspace.target);
    }
  });

  test("unpack with in-process decompression gives the same tree", async () => {
    const compressed = compress(gnuTar("posix"), "zstd");
    try {
      await unpackCompressed(compressed, workspace, { compression: "zstd", decompressor: "inline" });
      expect(listTree(workspace.target)).toEqual(
        listTree(source).map(([name, description]) => [name, description, expect.any(BigInt)] as never),
      );
    } finally {
      await removeTree(workspace.target);
    }
  });

  test("unpack without preserveOwners leaves files owned by the unpacking user", async () => {
    const compressed = compress(gnuTar("gnu"), "gzip");
    try {
      await unpackCompressed(compressed, workspace, { preserveOwners: false });
      const stat = lstatSync(join(workspace.target, "data/file"));
      expect(stat.uid).toBe(process.geteuid?.() ?? stat.uid);
      expect(stat.mode & 0o7777).toBe(0o640);
    } finally {
      await removeTree(workspace.target);
    }
  });
});
