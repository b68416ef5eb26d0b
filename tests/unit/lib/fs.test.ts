import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import {
  chmodSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openForWriting, which } from "../../../mod/lib/fs.ts";

let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), "backupctl-fs-"));
});

afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

describe("which", () => {
  test("finds an executable in the first PATH directory that holds it", () => {
    const first = join(directory, "first");
    const second = join(directory, "second");
    mkdirSync(first);
    mkdirSync(second);
    writeFileSync(join(second, "restic"), "#!/bin/sh\n", { mode: 0o755 });
    writeFileSync(join(first, "restic"), "not executable", { mode: 0o644 });
    expect(which("restic", `${first}:${second}`)).toBe(join(second, "restic"));
  });

  test("returns undefined for a missing command", () => {
    expect(which("backupctl-no-such-tool", directory)).toBeUndefined();
  });

  test("skips relative PATH entries such as the current directory", () => {
    writeFileSync(join(directory, "tool"), "#!/bin/sh\n", { mode: 0o755 });
    const previous = process.cwd();
    process.chdir(directory);
    try {
      expect(which("tool", ".::tool")).toBeUndefined();
    } finally {
      process.chdir(previous);
    }
  });

  test("checks a path with a slash directly, and refuses a directory", () => {
    const tool = join(directory, "tool");
    writeFileSync(tool, "#!/bin/sh\n");
    chmodSync(tool, 0o700);
    expect(which(tool, "")).toBe(tool);
    expect(which(directory, "")).toBeUndefined();
  });

  test("finds sh in the default PATH", () => {
    expect(which("sh")).toMatch(/\/sh$/);
  });
});

describe("openForWriting", () => {
  test("creates the file with exactly the mode and truncates an existing one", () => {
    const path = join(directory, "out");
    writeFileSync(path, "older and longer", { mode: 0o666 });
    chmodSync(path, 0o666);
    const fd = openForWriting(path, { mode: 0o640 });
    writeSync(fd, "new");
    closeSync(fd);
    expect(readFileSync(path, "utf8")).toBe("new");
    expect(statSync(path).mode & 0o777).toBe(0o640);
  });

  test("refuses to follow a symlink", () => {
    const victim = join(directory, "victim");
    writeFileSync(victim, "untouched");
    symlinkSync(victim, join(directory, "link"));
    expect(() => openForWriting(join(directory, "link"))).toThrow();
    expect(readFileSync(victim, "utf8")).toBe("untouched");
  });
});
