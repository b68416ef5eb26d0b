// The filesystem witness (the catalogue's H9): a digest of every path under a directory — type,
// mode, owner, size, mtime, link count, link target and content hash — taken before and after a
// hostile test, so any byte written outside the temp dir shows up as a difference.

import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";

/** path → description of what is there. */
export type TreeDigest = Map<string, string>;

/** Describes every entry under root (root itself included). */
export function digestTree(root: string): TreeDigest {
  const digest: TreeDigest = new Map();
  const visit = (path: string, relative: string) => {
    const stat = lstatSync(path);
    let detail = `${stat.mode.toString(8)} ${stat.uid}:${stat.gid} n${stat.nlink} ${stat.mtimeMs}`;
    if (stat.isSymbolicLink()) detail += ` -> ${readlinkSync(path)}`;
    else if (stat.isFile())
      detail += ` ${stat.size} ${createHash("sha256").update(readFileSync(path)).digest("hex")}`;
    digest.set(relative || ".", detail);
    if (stat.isDirectory()) {
      for (const name of readdirSync(path).sort())
        visit(join(path, name), relative ? `${relative}/${name}` : name);
    }
  };
  visit(root, "");
  return digest;
}

/** Returns the paths whose description differs, appeared or vanished. */
export function compareDigests(before: TreeDigest, after: TreeDigest): string[] {
  const changed: string[] = [];
  for (const [path, detail] of after) if (before.get(path) !== detail) changed.push(path);
  for (const path of before.keys()) if (!after.has(path)) changed.push(`${path} (removed)`);
  return changed.sort();
}
