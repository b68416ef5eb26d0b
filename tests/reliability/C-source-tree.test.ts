// Catalogue #26, #27 and #28, what `client run` (the compiled binary) does with the files it is given
// and the archives it keeps: hazards in a source tree (FIFO, socket, device node, a symlink to
// /etc/shadow, an unreadable file, a file that vanishes during the copy, a large sparse file), the
// exact meaning of exclude patterns (a golden listing), and what prune may delete.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { runBinary } from "../e2e/binary.ts";
import { runSync } from "../e2e/fixtures.ts";
import { type DockerHandle, makeTempDir, removeTempDir, startDocker } from "../harness/index.ts";
import { createClientFixture } from "./support/client-fixture.ts";
import { shellQuote, writeExecutable } from "./support/fakebin.ts";
import { openResults } from "./support/results.ts";
import { type ComposeStackFixture, startComposeStack } from "./support/stack.ts";

const results = openResults("C-source-tree");

let root: string;
let docker: DockerHandle;
let stack: ComposeStackFixture;

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-C26-");
  docker = await startDocker();
  stack = await startComposeStack(docker, root, { project: "hazards", services: ["app"] });
}, 120_000);

afterAll(async () => {
  await docker?.stop();
  if (root) await removeTempDir(root);
}, 60_000);

/** `tar -tvzf` of an archive: "type+mode size path [-> target]" lines for entries under prefix. */
function listing(archive: string, prefix: string): string[] {
  return runSync(["tar", "-tvzf", archive, "--numeric-owner"])
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(/\s+/);
      const [mode, , size] = fields;
      const rest = fields.slice(5).join(" ");
      return `${mode} ${size} ${rest}`;
    })
    .filter((line) => line.includes(prefix));
}

describe("source trees, excludes and prune", () => {
  /** Builds the hazardous source tree under root/name. */
  function hazardTree(name: string): string {
    const source = join(root, name);
    mkdirSync(source);
    writeFileSync(join(source, "normal.txt"), "normal\n");
    runSync(["mkfifo", join(source, "pipe")]);
    runSync([
      "python3",
      "-c",
      `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(join(source, "socket"))})`,
    ]);
    runSync(["mknod", join(source, "null-device"), "c", "1", "3"]);
    symlinkSync("/etc/shadow", join(source, "shadow-link"));
    writeFileSync(join(source, "unreadable.txt"), "secret\n");
    chmodSync(join(source, "unreadable.txt"), 0o000);
    writeFileSync(join(source, "vanish.txt"), "here at listing time\n");
    writeFileSync(join(source, "sparse.img"), "");
    truncateSync(join(source, "sparse.img"), 64 * 1024 * 1024);
    return source;
  }

  /** Wraps a tool so that its open of vanish.txt fails with ENOENT, as if the file was deleted after it was listed. */
  function vanishingTool(tool: string, source: string): string {
    return writeExecutable(
      join(root, "bin"),
      `${tool}-vanish-${source.split("/").pop()}`,
      `cd ${shellQuote(source)} && exec strace -f -qq -o /dev/null -P vanish.txt -e trace=openat,open -e inject=openat:error=ENOENT ${tool} "$@"\n`,
    );
  }

  // a files task is read in place by tar when nothing in its service is stopped, and copied with rsync
  // first when a docker task stops a stack: both paths must follow the same policy
  for (const mode of ["read in place by tar", "copied by rsync while a stack is stopped"] as const) {
    results.caseTest(
      26,
      `${mode}: a FIFO, a socket and a device node are skipped with a warning (the FIFO never opened), a symlink to /etc/shadow is stored as a link, a mode-000 file is stored, a vanished file is a warning, a 64 MiB sparse file is stored in full`,
      async () => {
        const isCopied = mode.startsWith("copied");
        const hostname = isCopied ? "c26-copied" : "c26-in-place";
        const source = hazardTree(`hazards-${hostname}`);
        // in place, the file list is made during the service's copy step and tar reads later: deleting the
        // file just before tar starts is exactly "vanished after it was listed"
        const tools = isCopied
          ? { rsync_cmd: [vanishingTool("rsync", source)], docker_cmd: docker.composeCommand }
          : {
              tar_cmd: [
                writeExecutable(
                  join(root, "bin"),
                  "tar-after-delete",
                  `rm -f ${shellQuote(join(source, "vanish.txt"))}\nexec tar "$@"\n`,
                ),
              ],
            };
        const client = createClientFixture(root, { hostname, config: { tools } });
        client.writeService("files", "hazards", {
          files: { paths: [source] },
          ...(isCopied ? { docker: stack.task() } : {}),
        });
        const startedAt = performance.now();
        const result = await runBinary(["client", "run", "--config-dir", client.configDir], {
          env: { ...process.env, ...docker.env, JOURNAL_STREAM: "" } as Record<string, string>,
        });
        const elapsedMs = performance.now() - startedAt;
        expect(result.exitCode).toBe(0);
        expect(elapsedMs).toBeLessThan(60_000);
        expect(result.stderr).toMatch(/skipping non-regular file "?.*pipe/);
        // rsync says "vanished"; tar reading in place warns "Cannot stat: No such file or directory"
        expect(result.stderr).toMatch(/WARN .*(vanished|Cannot stat: No such file or directory)/);
        expect(result.stderr.includes("reading files/hazards in place")).toBe(!isCopied);
        const [archive] = client.archives();
        const entries = listing(join(client.baseDir, archive as string), source);
        const entryFor = (name: string) =>
          entries.find((line) => line.includes(`${source.slice(1)}/${name}`));
        expect(entryFor("pipe")).toBeUndefined();
        expect(entryFor("socket")).toBeUndefined();
        expect(entryFor("null-device")).toBeUndefined();
        expect(entryFor("shadow-link")).toMatch(/^l.* -> \/etc\/shadow$/);
        expect(entryFor("unreadable.txt")).toMatch(/^-{10} 7 /);
        expect(entryFor("vanish.txt")).toBeUndefined();
        expect(entryFor("sparse.img")).toMatch(/^-\S+ 67108864 /);
        const manifest = JSON.parse(
          runSync(["tar", "-xOzf", join(client.baseDir, archive as string), "./manifest.json"]),
        );
        const warnings: string[] = manifest.services[0].tasks.flatMap(
          (task: { warnings: string[] }) => task.warnings,
        );
        // the copy step records its warnings in the manifest; tar reading in place warns after it is written
        if (isCopied) expect(warnings.join("\n")).toMatch(/vanished/);
        results.figure(
          `source-tree.policy-${isCopied ? "copied" : "in-place"}`,
          "special files skipped with a warning; symlinks kept as links; unreadable files read as root; vanished files a warning; sparse files stored in full",
          `${mode}: run took ${Math.round(elapsedMs)} ms with a 64 MiB sparse file`,
        );
      },
    );
  }

  results.caseTest(
    27,
    "exclude patterns select exactly the golden listing: a pattern anchored with the full source path, **/*.tmp everywhere, logs/ for directories only, names with spaces and a leading -; '/cache' anchors at / (full paths are kept), so it excludes nothing here",
    async () => {
      const source = join(root, "excludes");
      for (const directory of ["cache", "sub/cache", "logs", "sub/deep", "keep"])
        mkdirSync(join(source, directory), { recursive: true });
      for (const file of [
        "cache/a.txt",
        "sub/cache/b.txt",
        "x.tmp",
        "sub/deep/y.tmp",
        "logs/l.txt",
        "sub/logs",
        "with space.txt",
        "-leading.txt",
        "keep/k.txt",
        "new\nline.txt",
        "ok.txt",
      ]) {
        writeFileSync(join(source, file), `${file}\n`);
      }
      const client = createClientFixture(root, { hostname: "c27" });
      client.writeService("files", "excludes", {
        files: {
          paths: [source],
          exclude: ["/cache", `${source}/sub/cache`, "**/*.tmp", "logs/", "with space.txt", "-leading.txt"],
        },
      });
      const result = await runBinary(["client", "run", "--config-dir", client.configDir]);
      expect(result.exitCode).toBe(0);
      const [archive] = client.archives();
      const prefix = `./files/excludes/data${source}/`;
      const names = runSync(["tar", "-tzf", join(client.baseDir, archive as string)])
        .split("\n")
        .filter((name) => name.startsWith(prefix))
        .map((name) => name.slice(prefix.length))
        .filter(Boolean)
        .sort();
      expect(names).toEqual(
        [
          "cache/",
          "cache/a.txt",
          "keep/",
          "keep/k.txt",
          "new\\nline.txt",
          "ok.txt",
          "sub/",
          "sub/deep/",
          "sub/logs",
        ].sort(),
      );
    },
  );

  results.caseTest(
    28,
    "prune deletes only this host's parseable archives past keep_days, never decoys, other hosts' archives, .part files or names it cannot parse; nothing after a failed run; and config validation refuses /, /etc and a symlink to / as base_backup_dir",
    async () => {
      const client = createClientFixture(root, { hostname: "c28", config: { keep_days: 7 } });
      const data = join(root, "prune-data");
      mkdirSync(data);
      writeFileSync(join(data, "f.txt"), "f\n");
      mkdirSync(client.baseDir, { recursive: true });
      const recent = `c28-${new Date(Date.now() - 86_400_000).toISOString().replace(/[-:]/g, "").replace("T", "_").slice(0, 15)}.tar.gz`;
      const old = ["c28-20200101_000000.tar.gz", "c28-20200102_000000.tar.gz"];
      const decoys = [
        "notes.txt",
        "otherhost-20200101_000000.tar.gz",
        "c28-20200101_000000.tar.gz.part",
        "c28-2020-01-01.tar.gz",
        "c28-20200101_000000.tar.gz.bak",
        "c28x-20200101_000000.tar.gz",
      ];
      for (const name of [...old, recent]) {
        writeFileSync(join(client.baseDir, name), "archive");
        writeFileSync(join(client.baseDir, `${name}.sha256`), `${"0".repeat(64)}  ${name}\n`);
      }
      for (const name of decoys) writeFileSync(join(client.baseDir, name), "decoy");

      // a failed service: the run is partial, nothing is pruned
      client.writeService("files", "broken", { files: { paths: [join(root, "missing")] } });
      client.writeService("files", "data", { files: { paths: [data] } });
      expect((await runBinary(["client", "run", "--config-dir", client.configDir])).exitCode).toBe(3);
      for (const name of [...old, recent, ...decoys])
        expect(existsSync(join(client.baseDir, name))).toBe(true);

      // a clean run prunes exactly the two old archives and their sidecars
      runSync(["rm", "-r", join(client.configDir, "files", "broken")]);
      await Bun.sleep(1100);
      expect((await runBinary(["client", "run", "--config-dir", client.configDir])).exitCode).toBe(0);
      const remaining = readdirSync(client.baseDir).sort();
      for (const name of old) {
        expect(remaining).not.toContain(name);
        expect(remaining).not.toContain(`${name}.sha256`);
      }
      for (const name of [recent, `${recent}.sha256`, ...decoys]) expect(remaining).toContain(name);
      expect(client.archives()).toHaveLength(3);

      // dangerous base dirs are refused before anything runs
      const linkToRoot = join(root, "link-to-root");
      symlinkSync("/", linkToRoot);
      const refusedBaseDirs = [];
      for (const baseDir of ["/", "/etc", linkToRoot]) {
        client.writeConfig({ base_backup_dir: baseDir });
        const validation = await runBinary([
          "config",
          "validate",
          "--client",
          "--config-dir",
          client.configDir,
        ]);
        if (
          validation.exitCode === 2 &&
          `${validation.stdout}${validation.stderr}`.includes("system directory")
        )
          refusedBaseDirs.push(baseDir);
      }
      results.figure(
        "prune.decoys-kept",
        `${decoys.length + 1}/${decoys.length + 1}`,
        "decoys and the recent archive after a failed and a clean run",
      );
      results.figure(
        "prune.dangerous-base-dirs-refused",
        `${refusedBaseDirs.length}/3`,
        "/, /etc and a symlink to /",
      );
      expect(refusedBaseDirs).toEqual(["/", "/etc", linkToRoot]);
    },
  );
});
