// Decoding of one 512-byte tar header block (ustar, GNU and the ustar part of PAX archives) for the
// streaming parser. Every field is checked strictly: a header that another reader could decode
// differently (bad checksum, unknown magic, malformed numbers) is refused, never guessed at.

export const blockSize = 512;

/** The fields of one header block, before long names and PAX records are applied. */
export interface RawHeader {
  /** The name bytes (prefix/name joined for POSIX ustar headers), without trailing NULs. */
  name: Uint8Array;
  linkName: Uint8Array;
  /** The typeflag as one character ("0", "5", "x", …); "\0" for old regular files. */
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Whether the size field holds the largest octal value, as writers do when PAX carries the real size. */
  isSizeFieldSaturated: boolean;
}

/** A header that cannot be decoded; the parser turns it into a BackupError naming the offset. */
export interface HeaderProblem {
  problem: string;
}

const gnuMagic = "ustar  \0";
const posixMagic = "ustar\u000000";
const largestOctalSize = 0o77777777777;

/** Returns whether a 512-byte block is all zeros (an end-of-archive marker). */
export function isZeroBlock(block: Uint8Array): boolean {
  // 8 bytes at a time: this runs on every block after the end marker and on every header
  const view = new DataView(block.buffer, block.byteOffset, blockSize);
  for (let offset = 0; offset < blockSize; offset += 8) {
    if (view.getBigUint64(offset) !== 0n) return false;
  }
  return true;
}

/** Decodes one header block, or returns why it cannot be trusted. */
export function decodeHeader(block: Uint8Array): RawHeader | HeaderProblem {
  const checksum = readNumber(block, 148, 8);
  if (checksum === undefined) return { problem: "the header checksum field is not a number" };
  if (!hasValidChecksum(block, checksum)) return { problem: "the header checksum does not match" };
  const magic = latin1(block.subarray(257, 265));
  const isPosix = magic === posixMagic;
  if (!isPosix && magic !== gnuMagic) return { problem: "not a ustar, GNU or PAX tar header" };
  const fields = {
    mode: readNumber(block, 100, 8),
    uid: readNumber(block, 108, 8),
    gid: readNumber(block, 116, 8),
    size: readNumber(block, 124, 12),
    mtime: readNumber(block, 136, 12),
  };
  for (const [field, value] of Object.entries(fields)) {
    if (value === undefined) return { problem: `the ${field} field is not a valid number` };
  }
  const size = fields.size as number;
  const uid = fields.uid as number;
  const gid = fields.gid as number;
  if (size < 0 || uid < 0 || gid < 0) return { problem: "the size, uid or gid field is negative" };
  let name = cString(block, 0, 100);
  // the prefix field exists only in POSIX ustar headers; GNU headers keep atime/ctime there
  if (isPosix) {
    const prefix = cString(block, 345, 155);
    if (prefix.length > 0) name = concatBytes([prefix, slash, name]);
  }
  return {
    name,
    linkName: cString(block, 157, 100),
    type: String.fromCharCode(block[156] as number),
    mode: (fields.mode as number) & 0o7777,
    uid,
    gid,
    size,
    mtime: fields.mtime as number,
    isSizeFieldSaturated: size === largestOctalSize,
  };
}

const slash = new Uint8Array([0x2f]);

/** Returns whether the stored checksum equals the unsigned (or historic signed) sum of the block. */
function hasValidChecksum(block: Uint8Array, stored: number): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let index = 0; index < blockSize; index++) {
    // the checksum field itself counts as eight spaces
    const byte = index >= 148 && index < 156 ? 0x20 : (block[index] as number);
    unsigned += byte;
    signed += byte >= 0x80 ? byte - 0x100 : byte;
  }
  return stored === unsigned || stored === signed;
}

/**
 * Reads a numeric field: octal digits padded with spaces or NULs, or GNU base-256 (first byte 0x80
 * positive, 0xff negative). Returns undefined for anything else or a value past 2^53.
 */
export function readNumber(block: Uint8Array, offset: number, length: number): number | undefined {
  const first = block[offset] as number;
  if (first === 0x80 || first === 0xff) return readBase256(block, offset, length);
  let index = offset;
  const end = offset + length;
  while (index < end && block[index] === 0x20) index++;
  let value = 0;
  let digits = 0;
  while (index < end) {
    const byte = block[index] as number;
    if (byte < 0x30 || byte > 0x37) break;
    value = value * 8 + (byte - 0x30);
    digits++;
    index++;
  }
  // after the digits only terminators may follow
  while (index < end) {
    const byte = block[index] as number;
    if (byte !== 0x20 && byte !== 0) return undefined;
    index++;
  }
  if (digits === 0) return 0;
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Reads a GNU base-256 number (two's complement, big-endian, marker bit in the first byte). */
function readBase256(block: Uint8Array, offset: number, length: number): number | undefined {
  const isNegative = block[offset] === 0xff;
  let value = 0n;
  for (let index = 0; index < length; index++) {
    let byte = block[offset + index] as number;
    if (index === 0 && !isNegative) byte &= 0x7f;
    value = (value << 8n) | BigInt(byte);
  }
  if (isNegative) value -= 1n << BigInt(length * 8);
  const result = Number(value);
  return Number.isSafeInteger(result) ? result : undefined;
}

/** Returns the bytes of a NUL-terminated field (the whole field when it has no NUL). */
function cString(block: Uint8Array, offset: number, length: number): Uint8Array {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return copyBytes(field.subarray(0, end === -1 ? length : end));
}

/** Decodes bytes one-to-one into a string (each byte one char), for comparisons and map keys. */
export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

/** Concatenates byte arrays into a new one. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const result = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}

/**
 * Returns a copy of bytes in a buffer of its own. Not Buffer#slice, which returns a view: a kept name
 * would then pin the whole 64 KiB chunk it came from.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes);
}
