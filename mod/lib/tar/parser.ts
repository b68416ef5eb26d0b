// The streaming tar parser: decompressed bytes in, entries out, in one pass. It is the only tar
// parser: the server's unpack extracts what it emits, and the client's read-back check
// (mod/client/archive-check.ts) runs its fresh archive through it, so no second reader can disagree
// about entry boundaries (the TARmageddon lesson). Every oddity fails.

import { BackupError } from "../errors.ts";
import { blockSize, decodeHeader, isZeroBlock, latin1, type RawHeader } from "./header.ts";
import { escapeText, type PaxRecords, parsePaxRecords, paxInteger, paxTime } from "./pax-records.ts";

/** Entry types the extractor creates; every other typeflag is refused by the parser. */
export type EntryType = "file" | "directory" | "symlink" | "hardlink";

/** One archive member with long names and PAX records applied. */
export interface TarEntry {
  /** Raw name bytes as stored (not yet normalised). */
  path: Uint8Array;
  /** Raw link target bytes (symlinks and hardlinks), else empty. */
  linkPath: Uint8Array;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch, possibly fractional (PAX). */
  mtime: number;
  /** Byte offset of the entry's header in the decompressed stream, for messages. */
  offset: number;
}

/** Receives entries and their data, synchronously, in archive order. */
export interface TarSink {
  entry(entry: TarEntry): void;
  /** A piece of the current entry's data; the view is only valid during the call. */
  data(bytes: Uint8Array): void;
  entryEnd(): void;
}

/** Caps that stop hostile archives while parsing. */
export interface TarParserLimits {
  /** Most decompressed bytes (headers, data and padding) accepted. */
  maxBytes: number;
  /** Most members (extended headers not counted) accepted. */
  maxEntries: number;
}

// long names and PAX headers are held in memory; real ones are a few hundred bytes
const maxMetaSize = 1024 * 1024;

const typeNames: Record<string, string> = {
  "3": "a character device",
  "4": "a block device",
  "6": "a FIFO",
  S: "a GNU sparse file",
  D: "a GNU incremental directory",
  M: "a GNU multi-volume continuation",
  V: "a GNU volume label",
  N: "an old GNU long-name record",
};

type ParserState = "header" | "data" | "meta" | "padding" | "end";
type MetaKind = "x" | "g" | "L" | "K";

/** Escapes raw name bytes for a message: printable ASCII stays, every other byte becomes \xNN. */
export function escapeName(bytes: Uint8Array): string {
  return escapeText(latin1(bytes));
}

/** A push parser: write() decompressed chunks, then end(). Stateful, hence a class. */
export class TarParser {
  private readonly sink: TarSink;
  private readonly limits: TarParserLimits;
  private state: ParserState = "header";
  private readonly headerBuffer = new Uint8Array(blockSize);
  private headerFill = 0;
  private remaining = 0;
  private padding = 0;
  private metaKind: MetaKind = "x";
  private metaBuffer = new Uint8Array(0);
  private metaFill = 0;
  private zeroBlocks = 0;
  private pendingPax: PaxRecords | undefined;
  private pendingLongName: Uint8Array | undefined;
  private pendingLongLink: Uint8Array | undefined;
  private readonly globalPax: PaxRecords = new Map();
  private currentEntry: TarEntry | undefined;
  /** Decompressed bytes seen so far. */
  bytes = 0;
  /** Members emitted so far. */
  entries = 0;
  /** Sum of the sizes of regular files emitted so far. */
  fileBytes = 0;
  private headerOffset = 0;

  constructor(sink: TarSink, limits: TarParserLimits) {
    this.sink = sink;
    this.limits = limits;
  }

  /** Parses the next chunk. Throws BackupError when the archive is refused. */
  write(chunk: Uint8Array): void {
    const chunkStart = this.bytes;
    this.bytes += chunk.length;
    if (this.bytes > this.limits.maxBytes) {
      throw new BackupError(
        `Cannot unpack archive: it expands to more than ${this.limits.maxBytes} bytes (the configured cap)`,
        { hint: "a decompression bomb, or raise the byte cap if the data really grew" },
      );
    }
    let offset = 0;
    const length = chunk.length;
    while (offset < length) {
      switch (this.state) {
        case "header": {
          if (this.headerFill === 0 && length - offset >= blockSize) {
            this.headerOffset = chunkStart + offset;
            offset += blockSize;
            this.onHeader(chunk.subarray(offset - blockSize, offset));
          } else {
            if (this.headerFill === 0) this.headerOffset = chunkStart + offset;
            const take = Math.min(blockSize - this.headerFill, length - offset);
            this.headerBuffer.set(chunk.subarray(offset, offset + take), this.headerFill);
            this.headerFill += take;
            offset += take;
            if (this.headerFill === blockSize) {
              this.headerFill = 0;
              this.onHeader(this.headerBuffer);
            }
          }
          break;
        }
        case "data": {
          const take = Math.min(this.remaining, length - offset);
          this.sink.data(chunk.subarray(offset, offset + take));
          this.remaining -= take;
          offset += take;
          if (this.remaining === 0) this.finishEntry();
          break;
        }
        case "meta": {
          const take = Math.min(this.remaining, length - offset);
          this.metaBuffer.set(chunk.subarray(offset, offset + take), this.metaFill);
          this.metaFill += take;
          this.remaining -= take;
          offset += take;
          if (this.remaining === 0) this.onMeta();
          break;
        }
        case "padding": {
          const take = Math.min(this.padding, length - offset);
          this.padding -= take;
          offset += take;
          if (this.padding === 0) this.state = "header";
          break;
        }
        case "end": {
          // GNU tar pads the archive to its record size with zeros; anything else is smuggled data
          for (; offset < length; offset++) {
            if (chunk[offset] !== 0) {
              throw new BackupError(
                `Cannot unpack archive: non-zero data at byte ${chunkStart + offset} after the end-of-archive marker`,
              );
            }
          }
          break;
        }
      }
    }
  }

  /** Checks that the archive ended properly. Throws BackupError for a truncated stream. */
  end(): void {
    if (this.state === "end") return;
    if (this.state === "data" && this.currentEntry) {
      const entry = this.currentEntry;
      throw new BackupError(
        `Cannot unpack "${escapeName(entry.path)}": the archive ends inside its data (${entry.size - this.remaining} of ${entry.size} bytes)`,
        { hint: "the archive is truncated" },
      );
    }
    const where =
      this.state === "padding"
        ? "inside the padding after an entry"
        : this.state === "meta"
          ? "inside an extended header"
          : this.headerFill === 0
            ? "before a header"
            : "inside a header";
    throw new BackupError(
      `Cannot unpack archive: the stream ends at byte ${this.bytes} ${where}, without the end-of-archive marker`,
      { hint: "the archive is truncated or was not written completely" },
    );
  }

  private onHeader(block: Uint8Array): void {
    if (isZeroBlock(block)) {
      if (this.pendingPax || this.pendingLongName || this.pendingLongLink) {
        this.fail("an extended header is not followed by an entry");
      }
      this.zeroBlocks++;
      if (this.zeroBlocks === 2) this.state = "end";
      return;
    }
    if (this.zeroBlocks > 0) this.fail("a lone zero block is followed by more headers");
    const header = decodeHeader(block);
    if ("problem" in header) this.fail(header.problem);
    const type = header.type;
    if (type === "x" || type === "g" || type === "L" || type === "K") {
      this.startMeta(type, header);
      return;
    }
    const path = this.resolvePath(header);
    if (type === "0" || type === "\0" || type === "7") this.emit(header, path, "file");
    else if (type === "5") this.emit(header, path, "directory");
    else if (type === "2") this.emit(header, path, "symlink");
    else if (type === "1") this.emit(header, path, "hardlink");
    else {
      const what = typeNames[type] ?? `an unknown entry type "${escapeText(type)}"`;
      this.fail(`${what} is not allowed in a backup archive`, path);
    }
  }

  private startMeta(kind: MetaKind, header: RawHeader): void {
    if (header.size > maxMetaSize)
      this.fail(`an extended header of ${header.size} bytes exceeds ${maxMetaSize}`);
    const isRepeated =
      (kind === "x" && this.pendingPax) ||
      (kind === "L" && this.pendingLongName) ||
      (kind === "K" && this.pendingLongLink);
    if (isRepeated) this.fail(`two "${kind}" extended headers precede one entry`);
    this.metaKind = kind;
    this.metaBuffer = new Uint8Array(header.size);
    this.metaFill = 0;
    this.remaining = header.size;
    this.padding = paddingFor(header.size);
    this.state = "meta";
    if (header.size === 0) this.onMeta();
  }

  private onMeta(): void {
    const data = this.metaBuffer;
    this.metaBuffer = new Uint8Array(0);
    this.state = this.padding > 0 ? "padding" : "header";
    if (this.metaKind === "L" || this.metaKind === "K") {
      const value = gnuLongValue(data);
      if (value === undefined)
        this.fail(`a GNU long ${this.metaKind === "L" ? "name" : "link"} contains a NUL byte`);
      if (this.metaKind === "L") this.pendingLongName = value;
      else this.pendingLongLink = value;
      return;
    }
    const records = parsePaxRecords(data);
    if ("problem" in records) this.fail(records.problem);
    if (this.metaKind === "x") {
      this.pendingPax = records;
      return;
    }
    for (const key of ["path", "linkpath", "size"]) {
      if (records.has(key)) this.fail(`a global PAX header sets "${key}", which would apply to every entry`);
    }
    for (const [key, value] of records) {
      if (value.length === 0) this.globalPax.delete(key);
      else this.globalPax.set(key, value);
    }
  }

  /** Returns the entry's name: PAX path, else GNU long name, else the header's name. */
  private resolvePath(header: RawHeader): Uint8Array {
    const paxPath = this.paxValue("path");
    if (paxPath && this.pendingLongName) this.fail("both a PAX path and a GNU long name are given", paxPath);
    return paxPath ?? this.pendingLongName ?? header.name;
  }

  private emit(header: RawHeader, path: Uint8Array, type: EntryType): void {
    const paxLink = this.paxValue("linkpath");
    if (paxLink && this.pendingLongLink) this.fail("both a PAX linkpath and a GNU long link are given", path);
    const linkPath = paxLink ?? this.pendingLongLink ?? header.linkName;
    const size = this.resolveSize(header, path);
    if (type !== "file" && size !== 0) this.fail(`${type} entry carries ${size} bytes of data`, path);
    if (type !== "symlink" && type !== "hardlink" && linkPath.length > 0) {
      this.fail(`a ${type} entry carries a link target`, path);
    }
    this.entries++;
    if (this.entries > this.limits.maxEntries) {
      throw new BackupError(
        `Cannot unpack archive: it has more than ${this.limits.maxEntries} entries (the configured cap)`,
      );
    }
    // refuse a huge declared size at once instead of writing up to the cap first
    if (this.bytes + size > this.limits.maxBytes) {
      this.fail(`its ${size} bytes would exceed the cap of ${this.limits.maxBytes} unpacked bytes`, path);
    }
    const entry: TarEntry = {
      path,
      linkPath,
      type,
      mode: header.mode,
      uid: this.paxNumber("uid", paxInteger, path) ?? header.uid,
      gid: this.paxNumber("gid", paxInteger, path) ?? header.gid,
      size,
      mtime: this.paxNumber("mtime", paxTime, path) ?? header.mtime,
      offset: this.headerOffset,
    };
    this.pendingPax = undefined;
    this.pendingLongName = undefined;
    this.pendingLongLink = undefined;
    if (type === "file") this.fileBytes += size;
    this.currentEntry = entry;
    this.sink.entry(entry);
    this.padding = paddingFor(size);
    if (size === 0) {
      this.finishEntry();
      return;
    }
    this.remaining = size;
    this.state = "data";
  }

  /**
   * The size rule: a PAX size wins, but only where the header's own size field agrees with it, is 0,
   * or is saturated (too small to hold it). Any other disagreement is refused, because readers that
   * prefer one or the other would see different entries (CVE-2025-62518).
   */
  private resolveSize(header: RawHeader, path: Uint8Array): number {
    const paxSize = this.paxNumber("size", paxInteger, path);
    if (paxSize === undefined || paxSize === header.size) return header.size;
    if (header.size === 0 || (header.isSizeFieldSaturated && paxSize > header.size)) return paxSize;
    this.fail(`the PAX size ${paxSize} differs from the header size ${header.size}`, path);
  }

  /** Returns a PAX value for the next entry: its own 'x' record, else a global one; empty means unset. */
  private paxValue(key: string): Uint8Array | undefined {
    const own = this.pendingPax?.get(key);
    if (own !== undefined) return own.length > 0 ? own : undefined;
    return this.globalPax.get(key);
  }

  private paxNumber(
    key: string,
    parse: (value: Uint8Array) => number | undefined,
    path: Uint8Array,
  ): number | undefined {
    const value = this.paxValue(key);
    if (value === undefined) return undefined;
    const result = parse(value);
    if (result === undefined) this.fail(`the PAX ${key} "${escapeName(value)}" is not a valid number`, path);
    return result;
  }

  private finishEntry(): void {
    this.currentEntry = undefined;
    this.sink.entryEnd();
    this.state = this.padding > 0 ? "padding" : "header";
  }

  /** Throws the refusal of the current header, naming the entry when its name is known. */
  private fail(reason: string, path?: Uint8Array): never {
    const subject = path ? `"${escapeName(path)}"` : "archive";
    throw new BackupError(`Cannot unpack ${subject} (header at byte ${this.headerOffset}): ${reason}`);
  }
}

/** Returns the bytes of padding that follow data of this size. */
function paddingFor(size: number): number {
  const rest = size % blockSize;
  return rest === 0 ? 0 : blockSize - rest;
}

/** Returns a GNU long name/link without its NUL terminator, or undefined if a NUL is inside it. */
function gnuLongValue(data: Uint8Array): Uint8Array | undefined {
  const end = data.indexOf(0);
  if (end === -1) return data;
  for (let index = end; index < data.length; index++) if (data[index] !== 0) return undefined;
  return data.subarray(0, end);
}
