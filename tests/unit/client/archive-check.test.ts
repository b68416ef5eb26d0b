// The client's read-back check (mod/client/archive-check.ts): one pass gives the sidecar's sha256 and
// refuses what the server's unpack would refuse — a broken stream, a truncated or malformed tar, a
// name the extractor rejects, a missing manifest.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkArchive } from "../../../mod/client/archive-check.ts";
import { BackupError } from "../../../mod/lib/errors.ts";
import { Logger } from "../../../mod/lib/log.ts";
import { archive, member } from "../unpack/tarWriter.ts";
import { compress, sha256 } from "../unpack/workspace.ts";

const logger = new Logger("test:archive-check");
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "archive-check-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Writes compressed bytes to a file in the test dir and returns its path. */
function writeArchiveFile(bytes: Uint8Array): string {
  const path = join(root, "web01-20261126_030405.tar.gz.partial");
  writeFileSync(path, bytes);
  return path;
}

const manifest = member({ name: "./manifest.json", data: '{"status":"ok"}\n' });
const dump = member({ name: "./postgresql/app/databases/app.sql", data: randomBytes(300_000) });

/** Returns the error checkArchive throws for the bytes. */
async function refusal(bytes: Uint8Array, compression: "gzip" | "zstd" = "gzip"): Promise<BackupError> {
  const error = await checkArchive(writeArchiveFile(bytes), compression, { logger }).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(BackupError);
  return error as BackupError;
}

describe("checkArchive", () => {
  for (const compression of ["gzip", "zstd"] as const) {
    test(`returns the sha256, size and member count of a sound ${compression} archive`, async () => {
      const bytes = compress(archive(member({ name: "./", type: "5" }), manifest, dump), compression);
      const result = await checkArchive(writeArchiveFile(bytes), compression, { logger });
      expect(result).toEqual({ sha256: sha256(bytes), bytes: bytes.length, entries: 3 });
    });
  }

  test("reads a zstd archive back with the configured zstd command (tools.zstd_cmd), not zstd from PATH", async () => {
    const bytes = compress(archive(member({ name: "./", type: "5" }), manifest, dump), "zstd");
    const marker = join(root, "wrapper-ran");
    const wrapper = join(root, "my-zstd");
    writeFileSync(wrapper, `#!/bin/sh\necho "$@" > '${marker}'\nexec zstd "$@"\n`, { mode: 0o755 });
    const result = await checkArchive(writeArchiveFile(bytes), "zstd", { logger, zstdCommand: [wrapper] });
    expect(result.sha256).toBe(sha256(bytes));
    expect(readFileSync(marker, "utf8").trim()).toBe("--decompress --stdout --quiet");
  });

  test("a configured zstd command that does not exist fails the read-back, naming it", async () => {
    const bytes = compress(archive(manifest, dump), "zstd");
    const missing = join(root, "no-such-zstd");
    const error = await checkArchive(writeArchiveFile(bytes), "zstd", {
      logger,
      zstdCommand: [missing],
    }).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(BackupError);
    expect(String(error)).toContain("no-such-zstd");
  });

  test("refuses a gzip stream cut short", async () => {
    const bytes = compress(archive(manifest, dump), "gzip");
    const error = await refusal(bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(error.message).toContain("Cannot verify the archive");
  });

  test("refuses a zstd stream cut short (the tar end marker is missing)", async () => {
    const bytes = compress(archive(manifest, dump), "zstd");
    await refusal(bytes.subarray(0, Math.floor(bytes.length / 2)), "zstd");
  });

  test("refuses a gzip stream with one flipped byte", async () => {
    const bytes = compress(archive(manifest, dump), "gzip");
    const flipped = new Uint8Array(bytes);
    const middle = Math.floor(flipped.length / 2);
    flipped[middle] = (flipped[middle] ?? 0) ^ 0xff;
    await refusal(flipped);
  });

  test("refuses a tar without its end-of-archive blocks", async () => {
    await refusal(compress(new Uint8Array([...manifest, ...dump]), "gzip"));
  });

  test('refuses a member name the server would refuse (a ".." component), naming it', async () => {
    const error = await refusal(
      compress(archive(manifest, member({ name: "./data/../../etc/passwd" })), "gzip"),
    );
    expect(error.message).toContain("data/../../etc/passwd");
    expect(error.message).toContain("the server would refuse");
  });

  test("refuses a device node, which the server never creates", async () => {
    const error = await refusal(
      compress(archive(manifest, member({ name: "./dev/sda", type: "4" })), "gzip"),
    );
    expect(error.message).toContain("block device");
  });

  test("refuses an archive without ./manifest.json", async () => {
    const error = await refusal(compress(archive(dump), "gzip"));
    expect(error.message).toContain("no ./manifest.json");
  });

  test("an aborted check says it was interrupted, without the disk-error hint", async () => {
    const bytes = compress(archive(manifest, dump), "gzip");
    const controller = new AbortController();
    controller.abort(new Error("SIGINT"));
    const error = await checkArchive(writeArchiveFile(bytes), "gzip", {
      logger,
      signal: controller.signal,
    }).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).message).toContain("interrupted");
    expect((error as BackupError).hint).toBeUndefined();
  });

  test("refuses a file that is not compressed as announced", async () => {
    await refusal(compress(archive(manifest), "zstd"), "gzip");
  });
});
