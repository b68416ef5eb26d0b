// The hand-off between a `files` task that nothing quiesces and the archive step: instead of copying
// its sources into staging, the task lists them (a walk, as rsync's would be) under
// `<staging>/.direct/<type>/<name>/`, and `tar` reads them straight from their place through a
// `root -> /` symlink, renaming `./.direct/<type>/<name>/root/<path>` to `./<type>/<name>/data/<path>`
// — the layout a copy would have given (DESIGN §6.6). The copy bought nothing for such data: it is
// live either way, and writing it twice cost more than compressing it (docs/performance.md).

import {
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { BackupError, errnoCode, errorMessage } from "../lib/errors.ts";

/** The directory of staging that holds the lists; never archived itself. */
export const directDirectoryName = ".direct";

/** One service's sources for tar to read directly. */
export interface DirectSource {
  type: string;
  name: string;
  /** NUL-separated member names, each `./.direct/<type>/<name>/root/<absolute path>`. */
  listPath: string;
}

/** What a walk of the sources found. */
export interface DirectListing {
  entries: number;
  files: number;
  bytes: number;
  warnings: string[];
}

const slash = Buffer.from("/");
const nul = Buffer.alloc(1);

/** Returns the directory of one service's list: `<staging>/.direct/<type>/<name>`. */
function serviceDirectory(stagingRoot: string, type: string, name: string): string {
  return join(stagingRoot, directDirectoryName, type, name);
}

/** Returns the member name prefix tar sees for a service's sources (its `root -> /` link). */
export function directMemberPrefix(type: string, name: string): string {
  return `./${directDirectoryName}/${type}/${name}/root`;
}

/** Returns the tar --transform that renames a service's direct members into its `data/` (never symlink targets). */
export function directTransform(type: string, name: string): string {
  // type and name match ^[A-Za-z0-9][A-Za-z0-9._-]*$: only "." needs escaping, and none holds ","
  const pattern = `${directMemberPrefix(type, name)}/`.replaceAll(".", "\\.");
  return `--transform=s,^${pattern},./${type}/${name}/data/,S`;
}

/**
 * Returns the configured paths normalised, without duplicates and without paths inside another one
 * (rsync merges those; tar would archive them twice). Order is kept.
 */
export function topmostPaths(paths: string[]): string[] {
  const normalized = [...new Set(paths.map((path) => resolve(path)))];
  return normalized.filter(
    (path) => !normalized.some((other) => other !== path && (other === "/" || path.startsWith(`${other}/`))),
  );
}

/** Returns the directories above path, outermost first, without "/" (`/a/b/c` → `/a`, `/a/b`). */
function ancestorsOf(path: string): string[] {
  const ancestors: string[] = [];
  for (let parent = dirname(path); parent !== "/"; parent = dirname(parent)) ancestors.unshift(parent);
  return ancestors;
}

/**
 * Returns why paths cannot be read directly (an ancestor directory that is a symlink or not a
 * directory: the copy keeps rsync's handling of it), or undefined when they can.
 */
export function directReadObstacle(paths: string[]): string | undefined {
  for (const path of topmostPaths(paths)) {
    if (path === "/") return 'a path is "/"';
    for (const ancestor of ancestorsOf(path)) {
      let isDirectory = false;
      try {
        isDirectory = lstatSync(ancestor).isDirectory();
      } catch {
        isDirectory = false;
      }
      if (!isDirectory) return `"${ancestor}" above "${path}" is not a plain directory`;
    }
  }
  return undefined;
}

/** Appends NUL-terminated names to a list file in batches. Stateful (the open descriptor), hence a class. */
class ListWriter {
  private readonly fd: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(path: string) {
    this.fd = openSync(path, "wx", 0o600);
  }

  /** Adds one name made of parts (a prefix and a path as bytes: names need not be UTF-8). */
  add(...parts: Buffer[]): void {
    for (const part of parts) {
      this.pending.push(part);
      this.pendingBytes += part.length;
    }
    this.pending.push(nul);
    this.pendingBytes += 1;
    if (this.pendingBytes >= 1024 * 1024) this.flush();
  }

  /** Adds the names of another list file. */
  addList(path: string): void {
    const names = readFileSync(path);
    this.pending.push(names);
    this.pendingBytes += names.length;
    this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const bytes = Buffer.concat(this.pending, this.pendingBytes);
    let written = 0;
    while (written < bytes.length) written += writeSync(this.fd, bytes, written);
    this.pending = [];
    this.pendingBytes = 0;
  }

  close(): void {
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }
}

/** Returns a message for a skipped special file, worded like rsync's. */
function specialWarning(path: Buffer): string {
  return `skipping non-regular file "${path.toString("utf8")}" (device nodes, FIFOs and sockets are not backed up)`;
}

/**
 * Walks paths (pre-order, symlinks not followed) and writes the list tar reads for service
 * type/name, with the directories above each path first so they keep their owner, mode and mtime.
 * Device nodes, FIFOs and sockets are left out with a warning; what vanishes during the walk is a
 * warning. Throws BackupError when a path is missing or a directory cannot be read.
 */
export function writeDirectSources(
  stagingRoot: string,
  service: { type: string; name: string },
  paths: string[],
): DirectListing {
  const directory = serviceDirectory(stagingRoot, service.type, service.name);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  symlinkSync("/", join(directory, "root"));
  const list = new ListWriter(join(directory, "sources.list"));
  const prefix = Buffer.from(directMemberPrefix(service.type, service.name));
  const listing: DirectListing = { entries: 0, files: 0, bytes: 0, warnings: [] };
  const listed = new Set<string>();
  try {
    for (const path of topmostPaths(paths)) {
      for (const ancestor of ancestorsOf(path)) {
        if (listed.has(ancestor)) continue;
        listed.add(ancestor);
        list.add(prefix, Buffer.from(ancestor));
        listing.entries++;
      }
      walk(Buffer.from(path), (entry) => list.add(prefix, entry), listing);
    }
  } finally {
    list.close();
  }
  writeFileSync(
    join(directory, "counts.json"),
    `${JSON.stringify({ files: listing.files, bytes: listing.bytes })}\n`,
    { mode: 0o600 },
  );
  return listing;
}

/** Lists path and, for a directory, everything below it. */
function walk(root: Buffer, add: (path: Buffer) => void, listing: DirectListing): void {
  const stack: { path: Buffer; isTopLevel: boolean }[] = [{ path: root, isTopLevel: true }];
  while (stack.length > 0) {
    const { path, isTopLevel } = stack.pop() as { path: Buffer; isTopLevel: boolean };
    let stats: ReturnType<typeof lstatSync>;
    try {
      stats = lstatSync(path);
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw readError(path, error);
      if (isTopLevel) throw new BackupError(`Source path not found: "${path.toString("utf8")}"`);
      listing.warnings.push(`"${path.toString("utf8")}" vanished before it could be read`);
      continue;
    }
    if (!stats.isDirectory() && !stats.isFile() && !stats.isSymbolicLink()) {
      listing.warnings.push(specialWarning(path));
      continue;
    }
    add(path);
    listing.entries++;
    if (stats.isFile()) {
      listing.files++;
      listing.bytes += stats.size;
    }
    if (!stats.isDirectory()) continue;
    let names: Buffer[];
    try {
      // sorted by bytes, as rsync sorts its file list: the same tree gives the same archive
      names = readdirSync(path, { encoding: "buffer" }).sort(Buffer.compare);
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw readError(path, error);
      listing.warnings.push(`"${path.toString("utf8")}" vanished before it could be read`);
      continue;
    }
    // pushed in reverse so they come off the stack in directory order, after their directory
    for (let index = names.length - 1; index >= 0; index--) {
      stack.push({ path: Buffer.concat([path, slash, names[index] as Buffer]), isTopLevel: false });
    }
  }
}

/** Returns the BackupError of a path that cannot be read. */
function readError(path: Buffer, error: unknown): BackupError {
  return new BackupError(`Cannot read "${path.toString("utf8")}": ${errorMessage(error)}`, { cause: error });
}

/** Returns the files and bytes a service's direct list holds (none when it has no list). */
export async function readDirectCounts(
  stagingRoot: string,
  service: { type: string; name: string },
): Promise<{ files: number; bytes: number }> {
  try {
    const path = join(serviceDirectory(stagingRoot, service.type, service.name), "counts.json");
    const counts = JSON.parse(await readFile(path, "utf8")) as { files: number; bytes: number };
    return { files: counts.files, bytes: counts.bytes };
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return { files: 0, bytes: 0 };
    throw error;
  }
}

/** Returns the direct sources in staging of services whose staged directory still exists (a failed service's is removed). */
export async function findDirectSources(stagingRoot: string): Promise<DirectSource[]> {
  const sources: DirectSource[] = [];
  const base = join(stagingRoot, directDirectoryName);
  let types: string[];
  try {
    const entries = await readdir(base, { withFileTypes: true });
    types = entries
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return [];
    throw error;
  }
  for (const type of types) {
    for (const name of (await readdir(join(base, type))).sort()) {
      const isStaged = await stat(join(stagingRoot, type, name, "data")).then(
        (stats) => stats.isDirectory(),
        () => false,
      );
      if (!isStaged) continue;
      const listPath = join(serviceDirectory(stagingRoot, type, name), "sources.list");
      sources.push({ type, name, listPath });
    }
  }
  return sources;
}

/**
 * Writes the list of everything tar archives, in one pre-order walk so that each directory's
 * entries follow it without a gap (GNU tar sets a directory's mtime once it meets an entry outside
 * it): the staging dir without .direct, and each service's direct list right after its `data/`.
 * Returns the list's path.
 */
export function writeArchiveList(stagingRoot: string, direct: DirectSource[]): string {
  const listPath = join(stagingRoot, directDirectoryName, "archive.list");
  const lists = new Map(direct.map((source) => [`./${source.type}/${source.name}/data`, source.listPath]));
  const list = new ListWriter(listPath);
  try {
    const stack: Buffer[] = [Buffer.from(".")];
    while (stack.length > 0) {
      const name = stack.pop() as Buffer;
      list.add(name);
      const path = Buffer.concat([Buffer.from(`${stagingRoot}/`), name]);
      if (!lstatSync(path).isDirectory()) continue;
      const directList = lists.get(name.toString("latin1"));
      if (directList) list.addList(directList);
      const children = readdirSync(path, { encoding: "buffer" })
        .filter((child) => name.length > 1 || child.toString("latin1") !== directDirectoryName)
        .sort(Buffer.compare);
      for (let index = children.length - 1; index >= 0; index--) {
        stack.push(Buffer.concat([name, slash, children[index] as Buffer]));
      }
    }
  } finally {
    list.close();
  }
  return listPath;
}
