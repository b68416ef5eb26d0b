// A tiny tar writer for the unpack tests: it crafts raw headers (any typeflag, name, size field, PAX
// record or broken checksum), so hostile archives are built in code, never committed as binaries.

/** One raw header; every field can be set, including ones a real tar would never write. */
export interface RawHeaderFields {
  name: string | Uint8Array;
  type?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** The size written into the header (defaults to the data length). */
  size?: number;
  mtime?: number;
  linkName?: string | Uint8Array;
  /** "gnu" (default) or "posix" magic; "v7" writes none (pre-POSIX tar). */
  format?: "gnu" | "posix" | "v7";
  /** POSIX prefix field (only meaningful with format "posix"). */
  prefix?: string;
  /** Adds this to the computed checksum (non-zero: an invalid header). */
  checksumDelta?: number;
  devMajor?: number;
  devMinor?: number;
}

/** One member: a header and its data. */
export interface RawMember extends RawHeaderFields {
  data?: string | Uint8Array;
}

const encoder = new TextEncoder();

/** Returns bytes of a string (UTF-8) or the bytes themselves. */
export function toBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === "string" ? encoder.encode(value) : value;
}

/** Returns a 512-byte header block. */
export function headerBlock(fields: RawHeaderFields & { size: number }): Uint8Array {
  const block = new Uint8Array(512);
  writeBytes(block, 0, 100, toBytes(fields.name));
  writeOctal(block, 100, 8, fields.mode ?? 0o644);
  writeOctal(block, 108, 8, fields.uid ?? 0);
  writeOctal(block, 116, 8, fields.gid ?? 0);
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, fields.mtime ?? 1_700_000_000);
  block[156] = (fields.type ?? "0").charCodeAt(0);
  writeBytes(block, 157, 100, toBytes(fields.linkName ?? ""));
  if (fields.format === "posix") {
    writeBytes(block, 257, 8, encoder.encode("ustar\u000000"));
    writeBytes(block, 345, 155, encoder.encode(fields.prefix ?? ""));
  } else if (fields.format !== "v7") {
    writeBytes(block, 257, 8, encoder.encode("ustar  \0"));
  }
  writeOctal(block, 329, 8, fields.devMajor ?? 0);
  writeOctal(block, 337, 8, fields.devMinor ?? 0);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  writeOctal(block, 148, 7, sum + (fields.checksumDelta ?? 0));
  block[155] = 0x20;
  return block;
}

/** Returns a member (header, data, padding). */
export function member(fields: RawMember): Uint8Array {
  const data = toBytes(fields.data ?? "");
  const header = headerBlock({ ...fields, size: fields.size ?? data.length });
  return concat([header, data, new Uint8Array((512 - (data.length % 512)) % 512)]);
}

/** Returns a PAX extended header ('x', or 'g' when global) carrying records. */
export function paxHeader(
  records: Record<string, string | Uint8Array>,
  options: { isGlobal?: boolean } = {},
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [key, rawValue] of Object.entries(records)) {
    const value = toBytes(rawValue);
    const body = concat([encoder.encode(` ${key}=`), value, encoder.encode("\n")]);
    // the length counts its own digits
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length++;
    parts.push(concat([encoder.encode(String(length)), body]));
  }
  return member({
    name: "PaxHeaders/x",
    type: options.isGlobal ? "g" : "x",
    format: "posix",
    data: concat(parts),
  });
}

/** Returns a GNU long name ('L') or long link ('K') record. */
export function gnuLongHeader(value: string | Uint8Array, type: "L" | "K" = "L"): Uint8Array {
  return member({ name: "././@LongLink", type, data: concat([toBytes(value), new Uint8Array([0])]) });
}

/** Returns the end-of-archive marker (two zero blocks). */
export function endOfArchive(): Uint8Array {
  return new Uint8Array(1024);
}

/** Returns a whole archive: the parts followed by the end marker. */
export function archive(...parts: Uint8Array[]): Uint8Array {
  return concat([...parts, endOfArchive()]);
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const result = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}

/** Writes bytes into a field, truncated to its length. */
function writeBytes(block: Uint8Array, offset: number, length: number, bytes: Uint8Array): void {
  block.set(bytes.subarray(0, length), offset);
}

/** Writes an octal number, NUL-terminated, zero-padded to the field. */
function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  const text = value
    .toString(8)
    .padStart(length - 1, "0")
    .slice(-(length - 1));
  writeBytes(block, offset, length, encoder.encode(`${text}\0`));
}
