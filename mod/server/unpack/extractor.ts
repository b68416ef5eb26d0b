// The writing half of the unpack pipeline: creates each entry the parser emits beneath a fresh
// target directory, with synchronous fs calls on Buffer paths (byte-exact names, no per-chunk promise).
//
// Symlinks are kept inert: created with their target bytes unchanged (an archive of /etc has
// /etc/localtime -> /usr/share/zoneinfo/…) and never followed. Every directory and symlink created is
// recorded in memory; an entry is created only below a recorded directory (a recorded symlink as
// parent is refused), and nothing is ever replaced: files are opened O_CREAT|O_EXCL|O_NOFOLLOW and
// mkdir/symlink/link fail on an existing name, so a duplicate is refused by the kernel and not even a
// race can write through a link. Regular files are not recorded, which keeps memory flat for millions
// of files: a hardlink's target is checked by its recorded parent and an lstat that must show a
// regular file. The record is authoritative because the target starts empty under a 0700 root-owned
// parent (so the target filesystem must be byte-exact and case-sensitive, as Linux filesystems are).
//
// Modes are kept as archived, setuid/setgid/sticky included: nobody but root can reach them beneath
// the 0700 parent, and restic must record them as they were. Directory metadata is applied at the
// end, deepest first, so read-only directories can still be filled and their mtimes stick. Not kept:
// atime (set to the mtime), xattrs and ACLs (SCHILY.* PAX records are ignored), and owner names:
// uid/gid numbers only, as tar --numeric-owner does, since the server has no client accounts.

import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  symlinkSync,
  writeSync,
} from "node:fs";
import { BackupError, errnoCode, errorMessage } from "../../lib/errors.ts";
import { lstatOrUndefined } from "../../lib/fs.ts";
import {
  type EntryPath,
  hasTrailingSlash,
  normalizeEntryPath,
  type PathLimits,
} from "../../lib/tar/entry-path.ts";
import { copyBytes, latin1 } from "../../lib/tar/header.ts";
import type { TarEntry, TarSink } from "../../lib/tar/parser.ts";
import { escapeText } from "../../lib/tar/pax-records.ts";

/** How the extractor writes. */
export interface ExtractorOptions extends PathLimits {
  /** Apply archived uid/gid (lchown/fchown); needs root. */
  preserveOwners: boolean;
}

type CreatedKind = "directory" | "implicitDirectory" | "symlink";

/** Metadata of a directory, applied when extraction ends. */
interface DirectoryMetadata {
  key: string;
  depth: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

const createFileFlags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const openDirectoryFlags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
// the manifest is parsed in memory; a real one is a few kilobytes
const maxManifestBytes = 16 * 1024 * 1024;
const manifestKey = "manifest.json";

/** Extracts entries into a target directory; a TarSink. Stateful (the record of created paths). */
export class Extractor implements TarSink {
  private readonly options: ExtractorOptions;
  /** The target directory as latin1 bytes with a trailing "/", prefixed to every key. */
  private readonly prefix: string;
  private readonly created = new Map<string, CreatedKind>();
  private readonly directories: DirectoryMetadata[] = [];
  private readonly effectiveUid = process.geteuid?.() ?? -1;
  private readonly effectiveGid = process.getegid?.() ?? -1;
  private readonly umask = process.umask();
  private hasRoot = false;
  private current: TarEntry | undefined;
  private fd = -1;
  private manifestChunks: Uint8Array[] | undefined;
  private manifestBytes = 0;
  private manifestData: Uint8Array | undefined;

  constructor(targetDirectory: string, options: ExtractorOptions) {
    this.prefix = `${Buffer.from(targetDirectory, "utf8").toString("latin1")}/`;
    // every fs call takes the full path, which must stay below PATH_MAX (4096 with its NUL)
    const maxPathBytes = Math.min(options.maxPathBytes, 4095 - this.prefix.length);
    this.options = { ...options, maxPathBytes };
  }

  /** Creates the entry (or opens the file that data() fills). Throws BackupError when refused. */
  entry(entry: TarEntry): void {
    this.current = entry;
    const raw = latin1(entry.path);
    const normalized = normalizeEntryPath(raw, this.options);
    if ("problem" in normalized) this.refuse(normalized.problem);
    if (entry.type !== "directory" && hasTrailingSlash(raw))
      this.refuse(`a ${entry.type} name ends with "/"`);
    try {
      this.create(entry, normalized);
    } catch (error) {
      throw this.asBackupError(error, "create");
    }
  }

  /** Writes a piece of the current file. */
  data(bytes: Uint8Array): void {
    try {
      let written = 0;
      while (written < bytes.length) written += writeSync(this.fd, bytes, written, bytes.length - written);
    } catch (error) {
      throw this.asBackupError(error, "write");
    }
    if (this.manifestChunks) {
      this.manifestBytes += bytes.length;
      if (this.manifestBytes > maxManifestBytes)
        this.refuse(`the manifest exceeds ${maxManifestBytes} bytes`);
      this.manifestChunks.push(copyBytes(bytes));
    }
  }

  /** Finishes the current entry: owner, mode and mtime of a regular file, then close. */
  entryEnd(): void {
    const entry = this.current;
    if (this.fd === -1 || !entry) return;
    const fd = this.fd;
    this.fd = -1;
    try {
      const isChowned = this.options.preserveOwners && this.changesOwner(entry);
      if (isChowned) fchownSync(fd, entry.uid, entry.gid);
      // chown clears setuid/setgid, and the umask may have dropped bits at creation
      if (entry.mode & 0o7000 || (entry.mode & this.umask) !== 0) fchmodSync(fd, entry.mode);
      futimesSync(fd, entry.mtime, entry.mtime);
    } catch (error) {
      throw this.asBackupError(error, "set metadata of");
    } finally {
      closeSync(fd);
    }
    if (this.manifestChunks) {
      this.manifestData = Buffer.concat(this.manifestChunks);
      this.manifestChunks = undefined;
    }
  }

  /** Applies directory metadata, deepest first. Returns the raw manifest.json bytes if the archive had one. */
  finish(): Uint8Array | undefined {
    this.directories.sort((left, right) => right.depth - left.depth);
    for (const directory of this.directories) {
      let fd = -1;
      try {
        fd = openSync(this.fsPath(directory.key), openDirectoryFlags);
        if (this.options.preserveOwners && this.changesOwner(directory)) {
          fchownSync(fd, directory.uid, directory.gid);
        }
        fchmodSync(fd, directory.mode);
        futimesSync(fd, directory.mtime, directory.mtime);
      } catch (error) {
        throw new BackupError(
          `Cannot set the metadata of directory "${escapeText(directory.key)}": ${errorMessage(error)}`,
          { cause: error },
        );
      } finally {
        if (fd !== -1) closeSync(fd);
      }
    }
    return this.manifestData;
  }

  /** Closes a file left open by a failure; the caller then removes the target. */
  dispose(): void {
    if (this.fd !== -1) closeSync(this.fd);
    this.fd = -1;
  }

  private create(entry: TarEntry, path: EntryPath): void {
    if (path.depth === 0) {
      // "./": the target directory itself, which stays 0700 and root's whatever the client had
      if (entry.type !== "directory") this.refuse(`a ${entry.type} entry has an empty name`);
      if (this.hasRoot) this.refuse("the archive root appears twice");
      this.hasRoot = true;
      return;
    }
    const existing = this.created.get(path.key);
    if (existing === "implicitDirectory" && entry.type === "directory") {
      this.created.set(path.key, "directory");
      this.directories.push(directoryMetadata(entry, path));
      return;
    }
    if (existing !== undefined)
      this.refuse(`the path appears twice in the archive (first as a ${kindName(existing)})`);
    this.ensureParent(path.parentKey);
    const fsPath = this.fsPath(path.key);
    try {
      switch (entry.type) {
        case "file":
          this.fd = openSync(fsPath, createFileFlags, entry.mode & 0o777);
          if (path.key === manifestKey) this.manifestChunks = [];
          return;
        case "directory":
          mkdirSync(fsPath, 0o700);
          this.created.set(path.key, "directory");
          this.directories.push(directoryMetadata(entry, path));
          return;
        case "symlink":
          this.createSymlink(entry, fsPath);
          this.created.set(path.key, "symlink");
          return;
        case "hardlink":
          linkSync(this.fsPath(this.hardlinkTargetKey(entry)), fsPath);
          return;
      }
    } catch (error) {
      // only a regular file of this archive can already be there: the others are recorded
      if (errnoCode(error) === "EEXIST")
        this.refuse("the path appears twice in the archive (first as a file)");
      throw error;
    }
  }

  private createSymlink(entry: TarEntry, fsPath: Buffer): void {
    const target = entry.linkPath;
    if (target.length === 0) this.refuse("the symlink has an empty target");
    if (target.includes(0)) this.refuse("the symlink target contains a NUL byte");
    if (target.length > 4095) this.refuse(`the symlink target is ${target.length} bytes long`);
    symlinkSync(Buffer.from(target.buffer, target.byteOffset, target.byteLength), fsPath);
    if (this.options.preserveOwners && this.changesOwner(entry)) lchownSync(fsPath, entry.uid, entry.gid);
    lutimesSync(fsPath, entry.mtime, entry.mtime);
  }

  /** Returns the key of a hardlink's target. Throws BackupError unless it is an earlier regular file. */
  private hardlinkTargetKey(entry: TarEntry): string {
    const raw = latin1(entry.linkPath);
    const target = normalizeEntryPath(raw, this.options);
    const shown = escapeText(raw);
    if ("problem" in target) this.refuse(`the hardlink target "${shown}" is refused: ${target.problem}`);
    // a recorded parent directory means no symlink on the way, so lstat sees this archive's own entry
    const parentKind = target.parentKey === "" ? "directory" : this.created.get(target.parentKey);
    const isBelowDirectory = parentKind === "directory" || parentKind === "implicitDirectory";
    if (!isBelowDirectory || target.depth === 0 || !lstatOrUndefined(this.fsPath(target.key))?.isFile()) {
      this.refuse(`the hardlink target "${shown}" is not an earlier regular file of this archive`);
    }
    return target.key;
  }

  /** Makes sure the parent is a directory this extraction created, creating missing ones (0700). */
  private ensureParent(parentKey: string): void {
    if (parentKey === "") return;
    const kind = this.created.get(parentKey);
    if (kind === "directory" || kind === "implicitDirectory") return;
    const shown = escapeText(parentKey);
    if (kind === "symlink") {
      this.refuse(
        `its parent "${shown}" is a symlink created earlier in this archive (it is never written through)`,
      );
    }
    const slash = parentKey.lastIndexOf("/");
    this.ensureParent(slash === -1 ? "" : parentKey.slice(0, slash));
    try {
      mkdirSync(this.fsPath(parentKey), 0o700);
    } catch (error) {
      // directories and symlinks are recorded, so what is there is a regular file of this archive
      if (errnoCode(error) === "EEXIST") this.refuse(`its parent "${shown}" is a regular file`);
      throw error;
    }
    this.created.set(parentKey, "implicitDirectory");
  }

  private changesOwner(owner: { uid: number; gid: number }): boolean {
    return owner.uid !== this.effectiveUid || owner.gid !== this.effectiveGid;
  }

  private fsPath(key: string): Buffer {
    return Buffer.from(this.prefix + key, "latin1");
  }

  private refuse(reason: string): never {
    const entry = this.current;
    const name = entry ? escapeText(latin1(entry.path)) : "";
    throw new BackupError(`Cannot unpack "${name}" (header at byte ${entry?.offset ?? 0}): ${reason}`);
  }

  private asBackupError(error: unknown, action: string): BackupError {
    if (error instanceof BackupError) return error;
    const entry = this.current;
    const name = entry ? escapeText(latin1(entry.path)) : "";
    const code = errnoCode(error);
    return new BackupError(`Cannot ${action} "${name}": ${errorMessage(error)}`, {
      cause: error,
      hint: code === "ENOSPC" || code === "EDQUOT" ? "the server's temp directory is full" : undefined,
    });
  }
}

/** Returns how a created kind is named in messages. */
function kindName(kind: CreatedKind): string {
  return kind === "implicitDirectory" ? "directory" : kind;
}

/** Returns what finish() needs of a directory entry (never the entry itself, whose name bytes may be large). */
function directoryMetadata(entry: TarEntry, path: EntryPath): DirectoryMetadata {
  return {
    key: path.key,
    depth: path.depth,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    mtime: entry.mtime,
  };
}
