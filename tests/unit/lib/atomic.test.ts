import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../../../mod/lib/atomic.ts";
import { BackupError } from "../../../mod/lib/errors.ts";

let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), "backupctl-atomic-"));
});

afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

describe("writeFileAtomic", () => {
  test("writes the content with mode 0600 by default and leaves no temp file", async () => {
    const path = join(directory, "state.json");
    await writeFileAtomic(path, "hello\n");
    expect(readFileSync(path, "utf8")).toBe("hello\n");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(directory)).toEqual(["state.json"]);
  });

  test("gives the file exactly the requested mode, whatever the umask", async () => {
    const path = join(directory, "archive.tar.gz.sha256");
    const previous = process.umask(0o077);
    try {
      await writeFileAtomic(path, new TextEncoder().encode("abc  archive.tar.gz\n"), { mode: 0o640 });
    } finally {
      process.umask(previous);
    }
    expect(statSync(path).mode & 0o777).toBe(0o640);
  });

  test("replaces an existing file as a new inode, so a reader of the old one never sees a mix", async () => {
    const path = join(directory, "state.json");
    writeFileSync(path, "old content that is longer than the new one\n");
    const oldInode = statSync(path).ino;
    await writeFileAtomic(path, "new\n");
    expect(readFileSync(path, "utf8")).toBe("new\n");
    expect(statSync(path).ino).not.toBe(oldInode);
    expect(readdirSync(directory)).toEqual(["state.json"]);
  });

  test("a write that fails midway leaves the old content and no temp file", async () => {
    const path = join(directory, "state.json");
    writeFileSync(path, "old\n");
    // not a string or bytes: the temp file exists when writing it fails
    const bad = 42 as unknown as string;
    await expect(writeFileAtomic(path, bad)).rejects.toBeInstanceOf(BackupError);
    expect(readFileSync(path, "utf8")).toBe("old\n");
    expect(readdirSync(directory)).toEqual(["state.json"]);
  });

  test("a rename that fails leaves the target untouched and no temp file", async () => {
    const path = join(directory, "target");
    mkdirSync(path);
    writeFileSync(join(path, "inside"), "kept");
    await expect(writeFileAtomic(path, "data")).rejects.toThrow(`Cannot write "${path}"`);
    expect(readFileSync(join(path, "inside"), "utf8")).toBe("kept");
    expect(readdirSync(directory)).toEqual(["target"]);
  });

  test("a missing directory is reported with the target path", async () => {
    const path = join(directory, "missing", "state.json");
    await expect(writeFileAtomic(path, "data")).rejects.toThrow(`Cannot write "${path}"`);
  });

  test("a symlink at the target is replaced, never followed", async () => {
    const victim = join(directory, "victim");
    writeFileSync(victim, "untouched");
    const path = join(directory, "state.json");
    symlinkSync(victim, path);
    await writeFileAtomic(path, "new");
    expect(readFileSync(victim, "utf8")).toBe("untouched");
    expect(statSync(path).isFile()).toBe(true);
    expect(readFileSync(path, "utf8")).toBe("new");
  });
});

describe("writeJsonAtomic", () => {
  test("writes indented JSON with a final newline that parses back", async () => {
    const path = join(directory, "state.json");
    const value = { hosts: { web01: { archive: "web01-20261126_170000.tar.gz", bytes: 123 } } };
    await writeJsonAtomic(path, value);
    const text = readFileSync(path, "utf8");
    expect(text.endsWith("}\n")).toBe(true);
    expect(text).toContain('\n  "hosts"');
    expect(JSON.parse(text)).toEqual(value);
  });
});
