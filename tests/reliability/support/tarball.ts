// Crafted tar archives (the catalogue's H3): a raw 512-byte header writer that puts any name, type,
// link target, mode, owner, size or PAX record into an archive without filtering, so the server's
// extractor meets exactly the bytes an attacker would send.

import { gzipSync } from "node:zlib";

/** One member as written; every field is taken literally. */
export interface TarMember {
  name: string | Uint8Array;
  /** Typeflag: "0" file, "1" hardlink, "2" symlink, "3" char device, "4" block device, "5" dir, "6" FIFO, "x" PAX, "L" GNU long name, "K" GNU long link. */
  type?: string;
  data?: string | Uint8Array;
  linkName?: string | Uint8Array;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  /** The size field; defaults to the data's length (set it to lie). */
  size?: number;
  devMajor?: number;
  devMinor?: number;
  /** PAX records emitted in an "x" header right before this member. */
  pax?: Record<string, string>;
  /** Override the checksum field (to write a bad one). */
  checksum?: number;
}

const blockSize = 512;

/** Returns bytes of a string or byte array. */
function bytesOf(value: string | Uint8Array | undefined): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  return typeof value === "string" ? Buffer.from(value, "utf8") : value;
}

/** Writes an octal field of width bytes (digits, then NUL). */
function writeOctal(block: Uint8Array, offset: number, width: number, value: number): void {
  const text = value.toString(8).padStart(width - 1, "0");
  block.set(Buffer.from(text.slice(-(width - 1)), "latin1"), offset);
  block[offset + width - 1] = 0;
}

/** Returns one raw GNU-format header block ("ustar  \0" magic, so no prefix field is read). */
export function tarHeader(member: TarMember): Uint8Array {
  const block = new Uint8Array(blockSize);
  const name = bytesOf(member.name);
  block.set(name.subarray(0, 100), 0);
  const data = bytesOf(member.data);
  writeOctal(block, 100, 8, member.mode ?? (member.type === "5" ? 0o755 : 0o644));
  writeOctal(block, 108, 8, member.uid ?? 0);
  writeOctal(block, 116, 8, member.gid ?? 0);
  writeOctal(block, 124, 12, member.size ?? data.length);
  writeOctal(block, 136, 12, member.mtime ?? 1_767_225_600);
  block[156] = (member.type ?? "0").charCodeAt(0);
  block.set(bytesOf(member.linkName).subarray(0, 100), 157);
  block.set(Buffer.from("ustar  \0", "latin1"), 257);
  block.set(Buffer.from("root", "latin1"), 265);
  block.set(Buffer.from("root", "latin1"), 297);
  writeOctal(block, 329, 8, member.devMajor ?? 0);
  writeOctal(block, 337, 8, member.devMinor ?? 0);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  writeOctal(block, 148, 7, member.checksum ?? sum);
  block[155] = 0x20;
  return block;
}

/** Returns the PAX record block data for records ("%d key=value\n", length counted in bytes). */
export function paxData(records: Record<string, string>): Uint8Array {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`;
    let length = Buffer.byteLength(body) + 1;
    while (String(length).length + Buffer.byteLength(body) !== length)
      length = String(length).length + Buffer.byteLength(body);
    parts.push(Buffer.from(`${length}${body}`, "utf8"));
  }
  return Buffer.concat(parts);
}

/** Returns data padded with zeros to whole blocks. */
function padded(data: Uint8Array): Uint8Array {
  const rest = data.length % blockSize;
  if (rest === 0) return data;
  const result = new Uint8Array(data.length + blockSize - rest);
  result.set(data);
  return result;
}

/** Builds an uncompressed tar from members; endBlocks false leaves out the end-of-archive marker. */
export function buildTar(members: TarMember[], options: { endBlocks?: boolean } = {}): Buffer {
  const parts: Uint8Array[] = [];
  for (const member of members) {
    if (member.pax) {
      const records = paxData(member.pax);
      parts.push(tarHeader({ name: "PaxHeaders/x", type: "x", data: records }), padded(records));
    }
    parts.push(tarHeader(member));
    const data = bytesOf(member.data);
    if (data.length > 0) parts.push(padded(data));
  }
  if (options.endBlocks !== false) parts.push(new Uint8Array(blockSize * 2));
  return Buffer.concat(parts);
}

/** Builds a gzip-compressed tar. */
export function buildTarGz(members: TarMember[], options: { endBlocks?: boolean } = {}): Buffer {
  return gzipSync(buildTar(members, options));
}

/** A manifest.json member as client run writes it, so a crafted archive is otherwise normal. */
export function manifestMember(host: string): TarMember {
  return {
    name: "./manifest.json",
    data: `${JSON.stringify({ host, status: "ok", services: [] })}\n`,
    mode: 0o600,
  };
}
