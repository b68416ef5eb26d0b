// The benchmark's data set: a seeded, reproducible tree of the three kinds of data a backup client
// holds — many small text files, compressible mid-size files (logs, CSV), incompressible large files
// (media, already compressed) — and the "nightly" change of 1% of its files.

import {
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";

/** What a generated data set holds. */
export interface DatasetSummary {
  files: number;
  bytes: number;
  small: { files: number; bytes: number };
  mid: { files: number; bytes: number };
  large: { files: number; bytes: number };
  symlinks: number;
}

/** Shares of the total size per kind of file. */
const shares = { small: 0.12, mid: 0.48, large: 0.4 } as const;
const smallFilesPerDirectory = 200;

/** A seeded pseudo-random generator (xoshiro128**): fast, and the same sequence for the same seed. */
export class Random {
  private state: Uint32Array;

  constructor(seed: number) {
    // splitmix32 spreads a small seed over the four state words
    this.state = new Uint32Array(4);
    let value = seed >>> 0;
    for (let index = 0; index < 4; index++) {
      value = (value + 0x9e3779b9) >>> 0;
      let mixed = value;
      mixed = Math.imul(mixed ^ (mixed >>> 16), 0x85ebca6b) >>> 0;
      mixed = Math.imul(mixed ^ (mixed >>> 13), 0xc2b2ae35) >>> 0;
      this.state[index] = (mixed ^ (mixed >>> 16)) >>> 0;
    }
  }

  /** Returns the next 32-bit unsigned value. */
  next(): number {
    const state = this.state;
    const s0 = state[0] as number;
    const s1 = state[1] as number;
    const result = Math.imul(rotateLeft(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const shifted = (s1 << 9) >>> 0;
    state[2] = ((state[2] as number) ^ s0) >>> 0;
    state[3] = ((state[3] as number) ^ s1) >>> 0;
    state[1] = (s1 ^ (state[2] as number)) >>> 0;
    state[0] = (s0 ^ (state[3] as number)) >>> 0;
    state[2] = ((state[2] as number) ^ shifted) >>> 0;
    state[3] = rotateLeft(state[3] as number, 11);
    return result;
  }

  /** Returns an integer in [0, limit). */
  below(limit: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * limit);
  }

  /** Returns a size between low and high, spread evenly on a log scale. */
  logUniform(low: number, high: number): number {
    const fraction = this.next() / 0x1_0000_0000;
    return Math.round(Math.exp(Math.log(low) + fraction * (Math.log(high) - Math.log(low))));
  }

  /** Fills a buffer with random bytes. */
  fill(buffer: Uint8Array): void {
    const words = Math.floor(buffer.length / 4);
    const view = new Uint32Array(buffer.buffer, buffer.byteOffset, words);
    for (let index = 0; index < words; index++) view[index] = this.next();
    for (let index = words * 4; index < buffer.length; index++) buffer[index] = this.next() & 0xff;
  }
}

/** Rotates a 32-bit value left. */
function rotateLeft(value: number, bits: number): number {
  return ((value << bits) | (value >>> (32 - bits))) >>> 0;
}

/** A vocabulary of pseudo-words plus the pieces log lines are built from, as bytes. */
class TextSource {
  private readonly words: Uint8Array[];
  private readonly random: Random;

  constructor(random: Random) {
    this.random = random;
    const letters = "etaoinshrdlucmfwypvbgkqjxz";
    this.words = Array.from({ length: 4096 }, () => {
      const length = 2 + random.below(9);
      let word = "";
      for (let index = 0; index < length; index++) word += letters[Math.min(25, random.below(26) % 26)];
      return Buffer.from(word, "latin1");
    });
  }

  /** Returns size bytes of log-like text: timestamps, levels, words, ids and numbers, one record a line. */
  text(size: number): Buffer {
    const random = this.random;
    const output = Buffer.allocUnsafe(size + 512);
    let offset = 0;
    let second = random.below(86_400 * 28);
    while (offset < size) {
      second += random.below(3);
      offset += datePrefix.copy(output, offset);
      offset = writeDigits(output, offset, 1 + Math.floor(second / 86_400), 2);
      output[offset++] = 0x54; // T
      const daySecond = second % 86_400;
      offset = writeDigits(output, offset, Math.floor(daySecond / 3600), 2);
      output[offset++] = 0x3a;
      offset = writeDigits(output, offset, Math.floor(daySecond / 60) % 60, 2);
      output[offset++] = 0x3a;
      offset = writeDigits(output, offset, daySecond % 60, 2);
      output[offset++] = 0x2e;
      offset = writeDigits(output, offset, random.below(1000), 3);
      offset += (levels[random.below(levels.length)] as Buffer).copy(output, offset);
      const wordCount = 4 + random.below(12);
      for (let index = 0; index < wordCount; index++) {
        output[offset++] = 0x20;
        // Zipf-like: a few words are common, most are rare
        const rank = Math.floor(this.words.length * (random.next() / 0x1_0000_0000) ** 3);
        offset += (this.words[rank] as Buffer).copy(output, offset);
      }
      if (random.below(3) === 0) {
        offset += idPrefix.copy(output, offset);
        offset = writeDigits(output, offset, random.next(), 10);
      }
      offset += msPrefix.copy(output, offset);
      offset = writeDigits(output, offset, random.below(5000), 1);
      output[offset++] = 0x0a;
    }
    return output.subarray(0, size);
  }
}

const datePrefix = Buffer.from("2026-11-");
const idPrefix = Buffer.from(" id=");
const msPrefix = Buffer.from(" ms=");
const levels = [" INFO  ", " DEBUG ", " WARN  ", " INFO  ", " INFO  "].map((level) => Buffer.from(level));

/** Writes value in decimal, zero-padded to width, and returns the new offset. */
function writeDigits(output: Buffer, offset: number, value: number, width: number): number {
  let digits = 1;
  for (let rest = Math.floor(value / 10); rest > 0; rest = Math.floor(rest / 10)) digits++;
  const length = Math.max(width, digits);
  let rest = value;
  for (let index = length - 1; index >= 0; index--) {
    output[offset + index] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return offset + length;
}

/** Writes random bytes of the given size to path, in pieces so memory stays small. */
function writeRandomFile(path: string, size: number, random: Random): void {
  const piece = Buffer.allocUnsafe(Math.min(size, 8 * 1024 * 1024));
  const fd = openSync(path, "w");
  try {
    let written = 0;
    while (written < size) {
      const length = Math.min(piece.length, size - written);
      random.fill(piece.subarray(0, length));
      writeSync(fd, piece, 0, length);
      written += length;
    }
  } finally {
    closeSync(fd);
  }
}

/** Generates the data set of about totalBytes under root (which must not exist yet). */
export async function generateDataset(root: string, totalBytes: number, seed = 1): Promise<DatasetSummary> {
  const random = new Random(seed);
  const text = new TextSource(new Random(seed + 1));
  const summary: DatasetSummary = {
    files: 0,
    bytes: 0,
    small: { files: 0, bytes: 0 },
    mid: { files: 0, bytes: 0 },
    large: { files: 0, bytes: 0 },
    symlinks: 0,
  };
  mkdirSync(root, { recursive: true });

  // many small text files: configuration, sources, mail, in directories of a few hundred
  let budget = Math.round(totalBytes * shares.small);
  for (let index = 0; budget > 0; index++) {
    const directory = join(
      root,
      "small",
      `d${Math.floor(index / (smallFilesPerDirectory * 20))}`,
      `s${Math.floor(index / smallFilesPerDirectory)}`,
    );
    if (index % smallFilesPerDirectory === 0) mkdirSync(directory, { recursive: true });
    const size = Math.min(budget, random.logUniform(256, 16 * 1024));
    writeFileSync(join(directory, `f${index}.txt`), text.text(size));
    budget -= size;
    summary.small.files++;
    summary.small.bytes += size;
  }

  // compressible mid-size files: logs and exports
  mkdirSync(join(root, "mid"), { recursive: true });
  budget = Math.round(totalBytes * shares.mid);
  for (let index = 0; budget > 0; index++) {
    const size = Math.min(budget, random.logUniform(64 * 1024, 8 * 1024 * 1024));
    writeFileSync(join(root, "mid", `log${index}.log`), text.text(size));
    budget -= size;
    summary.mid.files++;
    summary.mid.bytes += size;
  }

  // incompressible large files: media and compressed uploads
  mkdirSync(join(root, "large"), { recursive: true });
  budget = Math.round(totalBytes * shares.large);
  const largeMaximum = Math.max(1024 * 1024, Math.min(96 * 1024 * 1024, Math.round(budget / 3)));
  for (let index = 0; budget > 0; index++) {
    const size = Math.min(budget, Math.max(1, random.logUniform(largeMaximum / 6, largeMaximum)));
    writeRandomFile(join(root, "large", `blob${index}.bin`), size, random);
    budget -= size;
    summary.large.files++;
    summary.large.bytes += size;
  }

  // a few symlinks, as every real tree has
  symlinkSync("../mid/log0.log", join(root, "large", "current.log"));
  symlinkSync("d0", join(root, "small", "latest"));
  summary.symlinks = 2;

  summary.files = summary.small.files + summary.mid.files + summary.large.files;
  summary.bytes = summary.small.bytes + summary.mid.bytes + summary.large.bytes;
  return summary;
}

/** Lists the regular files under root, sorted, so the same seed picks the same files. */
function listFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (directory: string) => {
    for (const name of readdirSync(directory).sort()) {
      const path = join(directory, name);
      const stat = lstatSync(path);
      if (stat.isDirectory()) walk(path);
      else if (stat.isFile()) files.push(path);
    }
  };
  walk(root);
  return files;
}

/** Rewrites 1% of the files (at least one) with new content of about the same size; returns how many and their bytes. */
export function changeOnePercent(root: string, seed: number): { files: number; bytes: number } {
  const random = new Random(seed * 7919 + 13);
  const text = new TextSource(new Random(seed * 104_729 + 17));
  const files = listFiles(root);
  const count = Math.max(1, Math.round(files.length / 100));
  const chosen = new Set<number>();
  while (chosen.size < Math.min(count, files.length)) chosen.add(random.below(files.length));
  let bytes = 0;
  for (const index of chosen) {
    const path = files[index] as string;
    const size = lstatSync(path).size;
    if (path.endsWith(".bin")) writeRandomFile(path, size, random);
    else writeFileSync(path, text.text(Math.max(1, size + random.below(512))));
    bytes += size;
  }
  return { files: chosen.size, bytes };
}
