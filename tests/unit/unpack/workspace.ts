// Scratch space for the unpack tests: a 0700 temp root holding the 0700 parent of the target, canary
// files beside the target, and helpers that compress an archive and feed it to unpackArchive.

import { createHash } from "node:crypto";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { Logger } from "../../../mod/lib/log.ts";
import {
  type UnpackOptions,
  type UnpackResult,
  unpackArchive,
} from "../../../mod/server/unpack/unpack-archive.ts";

/** A temp tree: root/unpack (0700) holds the target "data" and the canary dir "outside". */
export interface Workspace {
  root: string;
  parent: string;
  target: string;
  outside: string;
}

/** Creates a workspace with canaries: outside/f (a file), outside/d (a dir) and root/passwd. */
export function makeWorkspace(): Workspace {
  const root = mkdtempSync(join(tmpdir(), "backupctl-unpack-"));
  const parent = join(root, "unpack");
  mkdirSync(parent, { mode: 0o700 });
  const outside = join(parent, "outside");
  mkdirSync(join(outside, "d"), { recursive: true });
  writeFileSync(join(outside, "f"), "canary\n");
  writeFileSync(join(root, "passwd"), "root:x:0:0\n");
  symlinkSync("f", join(outside, "link"));
  for (const path of [join(outside, "f"), join(outside, "d"), outside, join(root, "passwd")]) {
    utimesSync(path, 1_000_000_000, 1_000_000_000);
  }
  return { root, parent, target: join(parent, "data"), outside };
}

/** Removes a workspace. */
export function removeWorkspace(workspace: Workspace): void {
  rmSync(workspace.root, { recursive: true, force: true });
}

/** Returns a description of everything in the workspace but the target: type, mode, size, mtime, links, content. */
export function snapshotOutside(workspace: Workspace): string[] {
  const lines: string[] = [];
  const walk = (path: string) => {
    if (path === workspace.target) return;
    const stat = lstatSync(path, { bigint: true });
    let detail = "";
    if (stat.isFile()) detail = createHash("sha256").update(readFileSync(path)).digest("hex");
    else if (stat.isSymbolicLink()) detail = readlinkSync(path);
    // the parent's mtime changes when the target is created and removed: that is the point of it
    const mtime = path === workspace.parent ? "-" : stat.mtimeNs;
    lines.push(`${path} ${stat.mode} ${stat.size} ${mtime} ${stat.nlink} ${stat.ino} ${detail}`);
    if (stat.isDirectory() && !stat.isSymbolicLink())
      for (const name of readdirSync(path).sort()) walk(join(path, name));
  };
  walk(workspace.root);
  return lines;
}

/** Compresses tar bytes. */
export function compress(tar: Uint8Array, compression: "gzip" | "zstd"): Uint8Array {
  return compression === "zstd" ? zstdCompressSync(tar) : gzipSync(tar);
}

/** Yields bytes in chunks of chunkSize, as an SFTP stream would. */
export async function* chunked(bytes: Uint8Array, chunkSize = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += chunkSize)
    yield bytes.subarray(offset, offset + chunkSize);
}

/** Returns the hex sha256 of bytes. */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export const quietLogger = new Logger("test:unpack");

/** Unpacks already compressed bytes into the workspace target with test defaults. */
export function unpackCompressed(
  compressed: Uint8Array,
  workspace: Workspace,
  options: Partial<UnpackOptions> = {},
): Promise<UnpackResult> {
  return unpackArchive(chunked(compressed), {
    targetDir: workspace.target,
    compression: "gzip",
    maxBytes: 64 * 1024 * 1024,
    maxEntries: 10_000,
    logger: quietLogger,
    ...options,
  });
}

/** Compresses a tar and unpacks it into the workspace target. */
export function unpackTar(
  tar: Uint8Array,
  workspace: Workspace,
  options: Partial<UnpackOptions> = {},
): Promise<UnpackResult> {
  const compression = options.compression ?? "gzip";
  return unpackCompressed(compress(tar, compression), workspace, { ...options, compression });
}
