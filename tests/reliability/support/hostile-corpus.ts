// The hostile archive corpus of catalogue group A: each entry is one crafted archive with what it
// attacks and the outcome the server must reach — "refused" (the host fails, nothing is stored) or
// "contained" (stored, with nothing written outside the temp dir).

import { createGzip } from "node:zlib";
import { buildTarGz, manifestMember, type TarMember, tarHeader } from "./tarball.ts";

/** One crafted archive. */
export interface HostileArchive {
  /** Host name it is served as (also a short id). */
  host: string;
  cases: number[];
  attack: string;
  expected: "refused" | "contained";
  bytes: Uint8Array;
  /** Text the host's error must contain when refused. */
  errorMatch?: RegExp;
}

/** Builds the corpus; `outside` is an absolute directory the archives aim at. */
export function hostileCorpus(outside: string): HostileArchive[] {
  const manifest = (host: string) => manifestMember(host);
  const archive = (
    host: string,
    cases: number[],
    attack: string,
    members: TarMember[],
    expected: "refused" | "contained" = "refused",
    errorMatch?: RegExp,
    options: { endBlocks?: boolean } = {},
  ): HostileArchive => ({
    host,
    cases,
    attack,
    expected,
    errorMatch,
    bytes: buildTarGz([manifest(host), ...members], options),
  });
  const file = (name: string | Uint8Array, data = "pwned\n", extra: Partial<TarMember> = {}): TarMember => ({
    name,
    data,
    ...extra,
  });
  const deepName = `${"d/".repeat(5000)}f`;
  return [
    archive("a01-dotdot", [1], "member ../escape", [file("../escape-dotdot")], "refused", /\.\./),
    archive("a01-nested", [1], "member a/../../escape", [file("a/../../escape-nested")], "refused", /\.\./),
    archive(
      "a01-absolute",
      [1],
      `member ${outside}/absolute`,
      [file(`${outside}/absolute`)],
      "refused",
      /absolute/,
    ),
    archive(
      "a01-slashes",
      [1],
      `member ////${outside}/slashes`,
      [file(`////${outside}/slashes`)],
      "refused",
      /absolute/,
    ),
    archive(
      "a01-pax-path",
      [1],
      "PAX path ../escape-pax over an innocent ustar name",
      [file("innocent", "pwned\n", { pax: { path: "../escape-pax" } })],
      "refused",
      /\.\./,
    ),
    archive(
      "a02-symlink-dir",
      [2],
      `symlink d -> ${outside}, then d/pwned`,
      [{ name: "d", type: "2", linkName: outside }, file("d/pwned")],
      "refused",
      /symlink/,
    ),
    archive(
      "a02-symlink-relative",
      [2],
      "symlink e -> ../../../.., then e/pwned",
      [{ name: "e", type: "2", linkName: "../../../.." }, file("e/pwned")],
      "refused",
      /symlink/,
    ),
    archive(
      "a02-symlink-file",
      [2],
      `symlink f -> ${outside}/target, then a regular file f`,
      [{ name: "f", type: "2", linkName: `${outside}/target` }, file("f")],
      "refused",
      /twice/,
    ),
    archive(
      "a04-hardlink-absolute",
      [4],
      `hardlink h -> ${outside}/hardtarget`,
      [{ name: "h", type: "1", linkName: `${outside}/hardtarget` }],
      "refused",
      /hardlink/,
    ),
    archive(
      "a04-hardlink-dotdot",
      [4],
      "hardlink h -> ../../outside/hardtarget, then a regular file h",
      [{ name: "h", type: "1", linkName: "../../outside/hardtarget" }, file("h")],
      "refused",
      /hardlink/,
    ),
    archive(
      "a04-hardlink-overwrite",
      [4],
      "regular a, hardlink b -> a, then a regular file b (write through the link)",
      [file("a", "original\n"), { name: "b", type: "1", linkName: "a" }, file("b")],
      "refused",
      /twice/,
    ),
    archive(
      "a05-char-device",
      [5],
      "character device 1,1",
      [{ name: "null", type: "3", devMajor: 1, devMinor: 3 }],
      "refused",
      /character device/,
    ),
    archive(
      "a05-block-device",
      [5],
      "block device 8,0",
      [{ name: "sda", type: "4", devMajor: 8, devMinor: 0 }],
      "refused",
      /block device/,
    ),
    archive("a05-fifo", [5], "FIFO", [{ name: "pipe", type: "6" }], "refused", /FIFO/),
    archive(
      "a07-pax-terabyte",
      [7],
      "a PAX size of 1 TB on a header that says 0",
      [file("huge", "", { pax: { size: String(1024 ** 4) } })],
      "refused",
      /exceed the cap|cap/,
    ),
    archive(
      "a08-depth",
      [8],
      "a name 5000 directories deep (PAX path)",
      [file("short", "x\n", { pax: { path: deepName } })],
      "refused",
      /bytes long|deep/,
    ),
    archive(
      "a08-long-path",
      [8],
      "a 4200-byte GNU long name",
      [{ name: "././@LongLink", type: "L", data: `${"n".repeat(200)}/`.repeat(21) }, file("placeholder")],
      "refused",
      /bytes long|long/,
    ),
    archive(
      "a11-pax-size",
      [11],
      "PAX size 2048 over a ustar size of 6 (TARmageddon)",
      [file("smuggle", "pwned\n", { pax: { size: "2048" } })],
      "refused",
      /PAX size/,
    ),
    archive(
      "a11-duplicates",
      [11],
      "the same path as a file, then a directory, then a symlink",
      [file("dup"), { name: "dup/", type: "5" }, { name: "dup", type: "2", linkName: outside }],
      "refused",
      /twice/,
    ),
    archive(
      "a11-bad-checksum",
      [11],
      "a header with a wrong checksum",
      [file("bad", "x\n", { checksum: 1 })],
      "refused",
      /checksum/,
    ),
    archive(
      "a11-pax-path-wins",
      [11],
      "PAX path data/real.txt over ustar name decoy.txt (PAX wins, deterministically)",
      [file("decoy.txt", "real\n", { pax: { path: "data/real.txt" } })],
      "contained",
    ),
    archive(
      "a11-gnu-long-names",
      [11],
      "GNU long name and long link for a 301-byte name",
      [
        { name: "././@LongLink", type: "L", data: `${"l".repeat(150)}/${"m".repeat(150)}\0` },
        file("placeholder", "long\n"),
        { name: "././@LongLink", type: "K", data: `${"l".repeat(150)}/${"m".repeat(150)}\0` },
        { name: "link-to-long", type: "2", linkName: "placeholder" },
      ],
      "contained",
    ),
    archive(
      "a02-inert-symlinks",
      [2],
      `symlinks to ${outside}/target and ../../.. kept as inert links, never followed`,
      [
        { name: "abs", type: "2", linkName: `${outside}/target` },
        { name: "rel", type: "2", linkName: "../../.." },
      ],
      "contained",
    ),
  ];
}

/**
 * Returns a gzip tar holding `bytes` zeros (a decompression bomb), streamed through zlib: in files of
 * `fileBytes` each, so no single header declares more than a small file and only the running total
 * of unpacked bytes can stop it.
 */
export async function zeroBomb(host: string, bytes: number, fileBytes = 8 * 1024 * 1024): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gzip.on("data", (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => gzip.on("end", resolve));
  const write = async (data: Uint8Array) => {
    if (!gzip.write(data)) await new Promise((resolve) => gzip.once("drain", resolve));
  };
  const manifestData = Buffer.from(`${JSON.stringify({ host, status: "ok", services: [] })}\n`);
  await write(tarHeader({ name: "./manifest.json", data: manifestData }));
  await write(Buffer.concat([manifestData, Buffer.alloc(512 - manifestData.length)]));
  const zero = new Uint8Array(fileBytes);
  for (let index = 0; index * fileBytes < bytes; index++) {
    await write(tarHeader({ name: `zeros-${index}`, size: fileBytes }));
    await write(zero);
  }
  await write(new Uint8Array(1024));
  gzip.end();
  await ended;
  return Buffer.concat(chunks);
}

/** Returns a gzip tar of `count` empty files (an entry-count bomb), built from one header template. */
export async function entryBomb(host: string, count: number): Promise<Buffer> {
  const gzip = createGzip({ level: 6 });
  const chunks: Buffer[] = [];
  gzip.on("data", (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => gzip.on("end", resolve));
  const manifestData = Buffer.from(`${JSON.stringify({ host, status: "ok", services: [] })}\n`);
  gzip.write(tarHeader({ name: "./manifest.json", data: manifestData }));
  gzip.write(Buffer.concat([manifestData, Buffer.alloc(512 - manifestData.length)]));
  const batch = 4096;
  for (let start = 0; start < count; start += batch) {
    const end = Math.min(count, start + batch);
    const blocks = Buffer.alloc((end - start) * 512);
    for (let index = start; index < end; index++)
      blocks.set(tarHeader({ name: `e/${index}`, data: "" }), (index - start) * 512);
    if (!gzip.write(blocks)) await new Promise((resolve) => gzip.once("drain", resolve));
  }
  gzip.write(new Uint8Array(1024));
  gzip.end();
  await ended;
  return Buffer.concat(chunks);
}
