// The files task both ways: copied with rsync (a service that is stopped, or exclude/rsync_options),
// or read in place by the archive step's tar. Both must give the same archive entries — names,
// types, modes, owners, mtimes, link targets, hardlinks — for a tree with every awkward kind of entry.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeArchive } from "../../../mod/client/archive.ts";
import { buildManifest } from "../../../mod/client/manifest.ts";
import { filesTaskSchema } from "../../../mod/config/tasks/files.ts";
import { Logger } from "../../../mod/lib/log.ts";
import { copyReason, filesPlugin } from "../../../plugins/files.ts";
import type { TaskContext } from "../../../plugins/types.ts";
import { captureLog, testContext } from "../../unit/plugins/context.ts";

const tools = { tar_cmd: ["tar"], gzip_cmd: ["gzip"], pigz_cmd: ["pigz"], zstd_cmd: ["zstd"] };
const time = new Date(Date.UTC(2026, 10, 26, 3, 4, 5));

/** writeArchive's options for web01, owned by the test's user. */
function archiveOptions(algorithm: "gzip" | "zstd") {
  return {
    hostname: "web01",
    time,
    compression: { algorithm },
    tools,
    owner: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
    logger: new Logger("test"),
  };
}
const isRoot = process.getuid?.() === 0;
let root: string;
let source: string;
/** Staging, archives and service files: apart from root, whose mtime must not change between two archives. */
let work: string;

/** Runs a command and returns stdout. */
function sh(argv: string[]): string {
  const result = Bun.spawnSync(argv);
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr.toString()}`);
  return result.stdout.toString();
}

/** Builds a source tree with every kind of entry a files task meets. */
function buildSourceTree(): void {
  const old = new Date("2020-01-02T03:04:05Z");
  mkdirSync(join(source, "app", "conf", "empty-dir"), { recursive: true });
  writeFileSync(join(source, "app", "conf", "app.ini"), "[app]\nname=demo\n");
  writeFileSync(join(source, "app", "conf", "empty"), "");
  writeFileSync(join(source, "app", "secret.key"), "k", { mode: 0o600 });
  writeFileSync(join(source, "app", "run.sh"), "#!/bin/sh\n", { mode: 0o4755 });
  chmodSync(join(source, "app", "run.sh"), 0o4755);
  writeFileSync(join(source, "app", "name with spaces\tand tab"), "x");
  writeFileSync(Buffer.from(`${join(source, "app")}/latin1-\xe9\xff`, "latin1"), "not utf-8");
  writeFileSync(join(source, "app", `${"long".repeat(60)}.txt`), "a name over 100 bytes");
  mkdirSync(join(source, "app", "deep", "a".repeat(90), "b".repeat(90), "c".repeat(90)), { recursive: true });
  writeFileSync(join(source, "app", "deep", "a".repeat(90), "b".repeat(90), "c".repeat(90), "leaf"), "deep");
  // in one directory and after its target in every order (creation, name, walk), so both ways store it as the link
  linkSync(join(source, "app", "conf", "app.ini"), join(source, "app", "conf", "zz-hardlink.ini"));
  symlinkSync("conf/app.ini", join(source, "app", "relative-link"));
  symlinkSync("/etc/hostname", join(source, "app", "absolute-link"));
  symlinkSync("does-not-exist", join(source, "app", "dangling-link"));
  utimesSync(join(source, "app", "run.sh"), old, old);
  utimesSync(join(source, "app", "conf"), old, old);
  if (isRoot) {
    chownSync(join(source, "app", "conf", "app.ini"), 1234, 4321);
    chownSync(join(source, "app", "conf"), 2345, 5432);
  }
  chmodSync(join(source, "app", "conf", "empty-dir"), 0o555);
  sh(["mkfifo", join(source, "app", "fifo")]);
  // a single file and a path nested in another one are sources too
  writeFileSync(join(source, "single.txt"), "one file\n");
}

/** Returns a context as the lifecycle gives a copy hook: the service stopped meanwhile, or not. */
function contextFor(stagingRoot: string, isQuiesced: boolean): TaskContext {
  return { ...testContext(stagingRoot), isQuiesced };
}

/** Runs the task's copy hook into a fresh staging dir, writes the archive, and returns its listing and manifest. */
async function archiveWith(
  name: string,
  taskInput: Record<string, unknown>,
  options: { isQuiesced: boolean },
): Promise<{
  listing: string[];
  manifest: { services: { files: number; bytes: number }[] };
  warnings: string[];
}> {
  const stagingRoot = join(work, `staging-${name}`);
  const base = join(work, `base-${name}`);
  mkdirSync(stagingRoot, { mode: 0o700 });
  mkdirSync(base);
  const task = filesTaskSchema.parse(taskInput);
  const context = contextFor(stagingRoot, options.isQuiesced);
  const report = await filesPlugin.copy?.(task, context);
  const staged = await buildManifest({
    host: "web01",
    archiveTimestamp: "20261126_030405",
    version: "test",
    stagingRoot,
    outcomes: [{ type: "web", name: "shop", status: "ok", tasks: [], durationMs: 0 }],
  });
  writeFileSync(join(stagingRoot, "manifest.json"), JSON.stringify(staged));
  const archive = await writeArchive(stagingRoot, base, archiveOptions("gzip"));
  const listing = sh([
    "tar",
    "--list",
    "--verbose",
    "--numeric-owner",
    "--full-time",
    "--quoting-style=escape",
    "--file",
    archive.path,
    "--wildcards",
    "./web/shop/data/*",
  ])
    .split("\n")
    .filter(Boolean)
    .sort();
  const manifest = JSON.parse(sh(["tar", "-xzOf", archive.path, "./manifest.json"]));
  return { listing, manifest, warnings: report?.warnings ?? [] };
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "files-task-"));
  work = mkdtempSync(join(tmpdir(), "files-task-work-"));
  source = join(root, "source");
  buildSourceTree();
});
afterEach(() => {
  chmodSync(join(source, "app", "conf", "empty-dir"), 0o755);
  rmSync(root, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe("files task", () => {
  test("read in place gives the same archive entries as the rsync copy, and the manifest counts the files", async () => {
    const paths = [join(source, "app"), join(source, "app", "conf"), join(source, "single.txt")];
    const copied = await archiveWith("copy", { paths }, { isQuiesced: true });
    const direct = await archiveWith("direct", { paths }, { isQuiesced: false });
    expect(direct.listing).toEqual(copied.listing);
    expect(direct.listing.some((line) => line.includes("latin1-\\351\\377"))).toBe(true);
    expect(direct.listing.some((line) => line.startsWith("h") && line.includes("link to"))).toBe(true);
    expect(direct.listing.some((line) => line.includes("-> /etc/hostname"))).toBe(true);
    expect(direct.listing.some((line) => line.includes("fifo"))).toBe(false);
    expect(direct.warnings.join("\n")).toContain("fifo");
    // the manifest counts what was read in place as it counts a copy (service.yaml is not staged here)
    expect(direct.manifest.services[0]?.files).toBe(copied.manifest.services[0]?.files as number);
    expect(direct.manifest.services[0]?.bytes).toBe(copied.manifest.services[0]?.bytes as number);
    expect(direct.manifest.services[0]?.files).toBe(10);
    expect(existsSync(join(work, "staging-direct", ".direct"))).toBe(true);
  });

  test("a file that vanishes between the listing and the archive is a warning, not a failure", async () => {
    const stagingRoot = join(work, "staging");
    const base = join(work, "base");
    mkdirSync(stagingRoot, { mode: 0o700 });
    mkdirSync(base);
    const context = contextFor(stagingRoot, false);
    await filesPlugin.copy?.(filesTaskSchema.parse({ paths: [join(source, "app")] }), context);
    rmSync(join(source, "app", "secret.key"));
    writeFileSync(join(stagingRoot, "manifest.json"), "{}\n");
    const logged = captureLog();
    const archive = await writeArchive(stagingRoot, base, archiveOptions("zstd"));
    const lines = logged();
    expect(lines.join("\n")).toMatch(/WARN .*secret\.key.*No such file/);
    const listing = sh(["tar", "--list", "--file", archive.path]);
    expect(listing).toContain("/app/run.sh");
    expect(listing).not.toContain("secret.key");
  });

  test("a service that failed after the listing leaves nothing of its sources in the archive", async () => {
    const stagingRoot = join(work, "staging");
    const base = join(work, "base");
    mkdirSync(stagingRoot, { mode: 0o700 });
    mkdirSync(base);
    const context = contextFor(stagingRoot, false);
    await filesPlugin.copy?.(filesTaskSchema.parse({ paths: [join(source, "app")] }), context);
    // the lifecycle removes a failed service's staged dir
    rmSync(context.outputDir, { recursive: true });
    writeFileSync(join(stagingRoot, "manifest.json"), "{}\n");
    const archive = await writeArchive(stagingRoot, base, archiveOptions("gzip"));
    expect(sh(["tar", "--list", "--file", archive.path]).split("\n").filter(Boolean).sort()).toEqual([
      "./",
      "./manifest.json",
      "./web/",
    ]);
  });
});

describe("copyReason", () => {
  const task = (input: Record<string, unknown>) => filesTaskSchema.parse({ paths: ["/etc"], ...input });

  test("reads in place only when the lifecycle says nothing is stopped and no rsync-only option is set", () => {
    expect(copyReason(task({}), { isQuiesced: false })).toBeUndefined();
    expect(copyReason(task({}), { isQuiesced: true })).toContain("stopped");
    expect(copyReason(task({}), {})).toContain("does not say");
    expect(copyReason(task({ exclude: ["*.tmp"] }), { isQuiesced: false })).toContain("exclude");
    expect(copyReason(task({ rsync_options: ["-x"] }), { isQuiesced: false })).toContain("rsync_options");
    expect(copyReason(task({ paths: ["/"] }), { isQuiesced: false })).toContain('"/"');
  });

  test("copies a path below a symlinked directory, as rsync --relative handles it", () => {
    symlinkSync(join(source, "app"), join(root, "linked"));
    expect(copyReason(task({ paths: [join(root, "linked", "conf")] }), { isQuiesced: false })).toContain(
      "not a plain directory",
    );
  });
});
