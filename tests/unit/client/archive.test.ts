import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compressorArgv, writeArchive } from "../../../mod/client/archive.ts";
import { Logger } from "../../../mod/lib/log.ts";

const tools = { tar_cmd: ["tar"], gzip_cmd: ["gzip"], pigz_cmd: ["pigz"], zstd_cmd: ["zstd"] };
const time = new Date(Date.UTC(2026, 10, 26, 3, 4, 5));
let root: string;
let staging: string;
let base: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "archive-test-"));
  staging = join(root, "staging");
  base = join(root, "base");
  mkdirSync(join(staging, "files", "etc", "data", "etc"), { recursive: true });
  mkdirSync(base);
  writeFileSync(join(staging, "files", "etc", "data", "etc", "hosts"), "127.0.0.1 localhost\n");
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Runs a command and returns stdout. */
function sh(argv: string[]): string {
  const result = Bun.spawnSync(argv);
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr.toString()}`);
  return result.stdout.toString();
}

describe("writeArchive", () => {
  for (const algorithm of ["gzip", "zstd"] as const) {
    test(`publishes a verified ${algorithm} archive with a matching sha256 sidecar`, async () => {
      writeFileSync(join(staging, "manifest.json"), "{}\n");
      const result = await writeArchive(staging, base, {
        hostname: "web01",
        time,
        compression: { algorithm },
        tools,
        owner: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
        logger: new Logger("test"),
      });
      const extension = algorithm === "zstd" ? "tar.zst" : "tar.gz";
      expect(result.name).toBe(`web01-20261126_030405.${extension}`);
      expect(readdirSync(base).sort()).toEqual([result.name, `${result.name}.sha256`]);
      expect(statSync(result.path).mode & 0o777).toBe(0o640);
      const sidecar = readFileSync(`${result.path}.sha256`, "utf8");
      expect(sidecar).toBe(`${sh(["sha256sum", result.path]).split(" ")[0]}  ${result.name}\n`);
      const listing = sh(["tar", "-tf", result.path]);
      expect(listing).toContain("./manifest.json");
      expect(listing).toContain("./files/etc/data/etc/hosts");
    });
  }

  test("refuses an archive without manifest.json and leaves no file behind", async () => {
    const writing = writeArchive(staging, base, {
      hostname: "web01",
      time,
      compression: { algorithm: "gzip" },
      tools,
      owner: { uid: 0, gid: 0 },
      logger: new Logger("test"),
    });
    await expect(writing).rejects.toThrow(/verify the archive/);
    expect(readdirSync(base)).toEqual([]);
  });
});

describe("compressorArgv", () => {
  test.each([
    [{ algorithm: "gzip" as const }, true, ["pigz", "-6", "-c"]],
    [{ algorithm: "gzip" as const, level: 9, threads: 2 }, true, ["pigz", "-9", "-p", "2", "-c"]],
    [{ algorithm: "gzip" as const }, false, ["gzip", "-6", "-c"]],
    [{ algorithm: "zstd" as const }, false, ["zstd", "-3", "-T0", "-q", "-c"]],
    [{ algorithm: "zstd" as const, level: 19, threads: 1 }, false, ["zstd", "-19", "-T1", "-q", "-c"]],
  ])("%o with pigz=%p → %p", (settings, hasPigz, expected) => {
    expect(compressorArgv(settings, tools, hasPigz)).toEqual(expected);
  });
});
