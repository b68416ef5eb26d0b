// The unpack pipeline around the parser: aborting ends the decompressor, the target directory rules,
// the manifest, and removeTree never following a link.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { BackupError } from "../../../mod/lib/errors.ts";
import { liveChildCount } from "../../../mod/lib/exec.ts";
import { prepareTargetDirectory, removeTree } from "../../../mod/server/unpack/target-directory.ts";
import { unpackArchive } from "../../../mod/server/unpack/unpack-archive.ts";
import { archive, member } from "./tarWriter.ts";
import {
  compress,
  makeWorkspace,
  quietLogger,
  removeWorkspace,
  unpackTar,
  type Workspace,
} from "./workspace.ts";

let workspace: Workspace;

beforeEach(() => {
  workspace = makeWorkspace();
});

afterEach(() => {
  removeWorkspace(workspace);
});

const decompressorNames = new Set(["pigz", "gzip", "zstd"]);

/** Returns the pids of decompressors this test process started that are still running (zombies excluded). */
function runningDecompressors(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue;
    }
    // "pid (comm) state ppid …": comm may hold spaces, so split after the last ")"
    const command = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const [state, parent] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(parent) === process.pid && decompressorNames.has(command) && state !== "Z")
      pids.push(Number(name));
  }
  return pids;
}

/** Polls until check() holds or the time is up; returns whether it held. */
async function eventually(check: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (check()) return true;
    await Bun.sleep(20);
  }
  return check();
}

describe("abort", () => {
  const cases = [
    ["gzip", "process"],
    ["zstd", "process"],
    ["gzip", "inline"],
    ["zstd", "inline"],
  ] as const;
  for (const [compression, decompressor] of cases) {
    test(`aborting a ${compression} unpack (${decompressor}) mid-stream rejects and leaves no decompressor running`, async () => {
      const members = Array.from({ length: 16 }, (_unused, index) =>
        member({ name: `f${index}`, data: randomBytes(256 * 1024) }),
      );
      const compressed = compress(archive(...members), compression);
      let chunksSent = 0;
      // the first half arrives, then the "network" stalls: only the abort can end the unpack
      async function* stallingSource(): AsyncGenerator<Uint8Array> {
        for (let offset = 0; offset < compressed.length / 2; offset += 64 * 1024) {
          chunksSent++;
          yield compressed.subarray(offset, offset + 64 * 1024);
        }
        await new Promise(() => undefined);
      }
      const controller = new AbortController();
      const unpacking = unpackArchive(stallingSource(), {
        targetDir: workspace.target,
        compression,
        maxBytes: 1e9,
        maxEntries: 1000,
        logger: quietLogger,
        signal: controller.signal,
        decompressor,
      });
      const expectedChildren = decompressor === "process" ? 1 : 0;
      expect(
        await eventually(() => runningDecompressors().length === expectedChildren && chunksSent > 10),
      ).toBe(true);
      const startedAt = performance.now();
      controller.abort(new Error("SIGTERM"));
      const error = await unpacking.then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(BackupError);
      expect((error as BackupError).message).toMatch(/aborted/);
      expect(performance.now() - startedAt).toBeLessThan(3000);
      expect(await eventually(() => runningDecompressors().length === 0)).toBe(true);
      expect(liveChildCount()).toBe(0);
      await removeTree(workspace.target);
    });
  }

  test("an unpack aborted before it starts creates nothing", async () => {
    const controller = new AbortController();
    controller.abort();
    const unpacking = unpackTar(archive(member({ name: "f" })), workspace, { signal: controller.signal });
    expect(unpacking).rejects.toThrow(/aborted/);
    await unpacking.catch(() => undefined);
    expect(existsSync(workspace.target)).toBe(false);
  });

  test("a refused archive leaves no decompressor running", async () => {
    const big = member({ name: "big", data: randomBytes(2 * 1024 * 1024) });
    const unpacking = unpackTar(archive(member({ name: "../x" }), big), workspace);
    expect(unpacking).rejects.toThrow(/"\.\." component/);
    await unpacking.catch(() => undefined);
    expect(await eventually(() => runningDecompressors().length === 0)).toBe(true);
  });
});

describe("target directory", () => {
  test("unpack creates the target 0700 and reports what it unpacked", async () => {
    const tar = archive(member({ name: "a", data: "12345" }), member({ name: "b/", type: "5" }));
    const result = await unpackTar(tar, workspace);
    expect(result).toMatchObject({ entries: 2, bytes: tar.length, fileBytes: 5 });
    expect(result.manifest).toBeUndefined();
    expect(readFileSync(join(workspace.target, "a"), "utf8")).toBe("12345");
  });

  test("unpack refuses a parent directory that others can enter", async () => {
    chmodSync(workspace.parent, 0o755);
    const unpacking = unpackTar(archive(member({ name: "f" })), workspace);
    expect(unpacking).rejects.toThrow(/parent ".*unpack" has mode 0755/);
    await unpacking.catch(() => undefined);
    expect(existsSync(workspace.target)).toBe(false);
  });

  test("unpack refuses a target that already holds files", async () => {
    mkdirSync(workspace.target, { mode: 0o700 });
    writeFileSync(join(workspace.target, "left-over"), "x");
    expect(() => prepareTargetDirectory(workspace.target)).toThrow(/not an empty 0700 directory/);
  });

  test("unpack refuses a target that is a symlink to an empty directory", async () => {
    symlinkSync(join(workspace.outside, "d"), workspace.target);
    expect(() => prepareTargetDirectory(workspace.target)).toThrow(/not an empty 0700 directory/);
  });

  test("unpack accepts an existing empty 0700 target", async () => {
    mkdirSync(workspace.target, { mode: 0o700 });
    await unpackTar(archive(member({ name: "f", data: "x" })), workspace);
    expect(readdirSync(workspace.target)).toEqual(["f"]);
  });

  test("unpack refuses a relative target", () => {
    expect(() => prepareTargetDirectory("relative/data")).toThrow(/absolute path/);
  });
});

describe("manifest", () => {
  test("unpack returns ./manifest.json parsed", async () => {
    const manifest = { version: 1, services: [{ name: "app", status: "ok" }] };
    const result = await unpackTar(
      archive(member({ name: "./manifest.json", data: JSON.stringify(manifest) })),
      workspace,
    );
    expect(result.manifest).toEqual(manifest);
  });

  test("unpack refuses a manifest.json that is not JSON", async () => {
    const unpacking = unpackTar(archive(member({ name: "manifest.json", data: "{not json" })), workspace);
    expect(unpacking).rejects.toThrow(/Cannot read "manifest.json" of the archive/);
    await unpacking.catch(() => undefined);
  });

  test("a manifest.json below the root is an ordinary file", async () => {
    const result = await unpackTar(
      archive(member({ name: "x/manifest.json", data: "{not json" })),
      workspace,
    );
    expect(result.manifest).toBeUndefined();
  });
});

describe("removeTree", () => {
  test("removes links without following them, so what they point to survives", async () => {
    const tree = join(workspace.parent, "tree");
    mkdirSync(join(tree, "sub"), { recursive: true });
    symlinkSync(workspace.outside, join(tree, "sub", "to-outside"));
    symlinkSync(join(workspace.outside, "f"), join(tree, "to-file"));
    writeFileSync(Buffer.from(`${tree}/sub/\xff\xfe name\n`, "latin1"), "x");
    mkdirSync(join(tree, "readonly"));
    writeFileSync(join(tree, "readonly", "inner"), "x");
    chmodSync(join(tree, "readonly", "inner"), 0o444);
    chmodSync(join(tree, "readonly"), 0o555);
    await removeTree(tree);
    expect(existsSync(tree)).toBe(false);
    expect(readFileSync(join(workspace.outside, "f"), "utf8")).toBe("canary\n");
    expect(readdirSync(workspace.outside).sort()).toEqual(["d", "f", "link"]);
  });

  test("removes a symlink given as the tree itself, not its target", async () => {
    const link = join(workspace.parent, "link");
    symlinkSync(workspace.outside, link);
    await removeTree(link);
    expect(existsSync(join(workspace.outside, "f"))).toBe(true);
  });

  test("accepts a path that does not exist", async () => {
    await expect(removeTree(join(workspace.parent, "missing"))).resolves.toBeUndefined();
  });

  test("removes names that are not UTF-8 and directories with more entries than it unlinks at once", async () => {
    const tree = join(workspace.parent, "tree");
    const oddDirectory = Buffer.from(`${tree}/\xfe dir`, "latin1");
    mkdirSync(oddDirectory, { recursive: true });
    for (let index = 0; index < 50; index++) {
      writeFileSync(Buffer.concat([oddDirectory, Buffer.from(`/\xff${index}`, "latin1")]), "x");
    }
    mkdirSync(join(tree, "a", "b", "c"), { recursive: true });
    writeFileSync(join(tree, "a", "b", "c", "deep"), "x");
    await removeTree(tree);
    expect(existsSync(tree)).toBe(false);
  });

  test("names the tree when something in it cannot be removed", async () => {
    const tree = join(workspace.parent, "tree");
    mkdirSync(join(tree, "sub"), { recursive: true });
    writeFileSync(join(tree, "sub", "f"), "x");
    // an immutable file cannot be unlinked, even by root
    const immutable = Bun.spawnSync(["chattr", "+i", join(tree, "sub", "f")]);
    if (immutable.exitCode !== 0) throw new Error("chattr +i failed: the test needs root on ext4");
    try {
      await expect(removeTree(tree)).rejects.toThrow(`Cannot remove "${tree}"`);
    } finally {
      Bun.spawnSync(["chattr", "-i", join(tree, "sub", "f")]);
    }
    await removeTree(tree);
    expect(existsSync(tree)).toBe(false);
  });
});
