// External plugins through the real lifecycle: the documented example (plugins/examples/package-list)
// run from a plugin dir, and plugins written here that record what each phase got — environment,
// stdin, the quiesce record on disk — and that skip, fail, or print state for their resume.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { which } from "../../../mod/lib/exec.ts";
import { makeTempDir, removeTempDir } from "../../harness/tmp.ts";
import { runTasks, writeScript } from "./fixtures.ts";

const example = join(import.meta.dir, "../../../plugins/examples/package-list");

describe("external plugins", () => {
  let root: string;
  let pluginDir: string;
  let record: string;

  beforeAll(async () => {
    root = await makeTempDir("bkpctl-external-");
    pluginDir = join(root, "plugins");
    record = join(root, "record");
    await mkdir(pluginDir, { mode: 0o755 });
    await mkdir(record);
    // records every phase: its environment, its stdin, and (at quiesce) whether the stop record exists
    await writeScript(
      join(pluginDir, "recorder"),
      `#!/bin/bash
set -eu
record=${record}
input=$(cat)
{
  echo "phase=$BACKUPCTL_PHASE dry=$BACKUPCTL_DRY_RUN service=$BACKUPCTL_SERVICE_TYPE/$BACKUPCTL_SERVICE_NAME"
  echo "out=$BACKUPCTL_OUTPUT_DIR exists=$([[ -d $BACKUPCTL_OUTPUT_DIR ]] && echo yes || echo no)"
  echo "stdin=$input"
} >> "$record/calls"
case $BACKUPCTL_PHASE in
  dump)
    [[ $BACKUPCTL_DRY_RUN == 1 ]] || echo "dumped" > "$BACKUPCTL_OUTPUT_DIR/dump.txt"
    echo "recorder: dump done" >&2 ;;
  quiesce)
    state_dir=$(sed -n 's/.*"state_dir":"\\([^"]*\\)".*/\\1/p' <<<"$input")
    ls "$state_dir/client/quiesced" >> "$record/records-at-quiesce" 2>/dev/null || true
    echo '{"stopped": ["nginx.service"], "since": 1}' ;;
  resume) ;;
  *) exit 75 ;;
esac
`,
    );
    await writeScript(join(pluginDir, "skipper"), "#!/bin/sh\nexit 75\n");
    await writeScript(
      join(pluginDir, "breaker"),
      '#!/bin/sh\necho partial > "$BACKUPCTL_OUTPUT_DIR/half"\necho "breaker: disk full" >&2\nexit 4\n',
    );
    await writeScript(
      join(pluginDir, "chatty"),
      '#!/bin/sh\n[ "$BACKUPCTL_PHASE" = quiesce ] || exit 75\necho "stopping now"\n',
    );
  });
  afterAll(async () => {
    if (root) await removeTempDir(root);
  });

  test.skipIf(which("jq") === undefined)(
    "the example package-list plugin writes the package lists into <key>/",
    async () => {
      await copyFile(example, join(pluginDir, "package-list"));
      const run = await runTasks(
        join(root, "example"),
        [{ key: "package-list", options: { versions: true } }],
        {
          pluginDir,
        },
      );
      expect(run.outcome.status).toBe("ok");
      expect(run.outcome.tasks[0]?.outputs).toEqual(["package-list"]);
      const directory = join(run.outputDir, "package-list");
      expect((await readdir(directory)).sort()).toEqual(["manual.txt", "selections.txt", "versions.txt"]);
      expect(await readFile(join(directory, "selections.txt"), "utf8")).toMatch(/^dpkg\s+install$/m);
      expect(await readFile(join(directory, "versions.txt"), "utf8")).toMatch(/^dpkg=\S+$/m);
    },
    30_000,
  );

  test("each phase gets the block on stdin and its environment; resume gets what quiesce printed", async () => {
    const stateDir = join(root, "phases", "state");
    const run = await runTasks(
      join(root, "phases"),
      [{ key: "recorder", options: { state_dir: stateDir } }],
      {
        pluginDir,
      },
    );
    expect(run.outcome.status).toBe("ok");
    expect(run.outcome.tasks[0]?.outputs).toEqual(["recorder"]);
    const outputDir = join(run.outputDir, "recorder");
    expect(await readFile(join(outputDir, "dump.txt"), "utf8")).toBe("dumped\n");
    const block = JSON.stringify({ state_dir: stateDir });
    expect((await readFile(join(record, "calls"), "utf8")).split("\n")).toEqual([
      "phase=dump dry=0 service=web/shop",
      `out=${outputDir} exists=yes`,
      `stdin=${block}`,
      "phase=quiesce dry=0 service=web/shop",
      `out=${outputDir} exists=yes`,
      `stdin=${block}`,
      "phase=copy dry=0 service=web/shop",
      `out=${outputDir} exists=yes`,
      `stdin=${block}`,
      "phase=resume dry=0 service=web/shop",
      `out=${outputDir} exists=yes`,
      'stdin={"stopped":["nginx.service"],"since":1}',
      "",
    ]);
    // the stop record was on disk before the plugin's quiesce ran, and is gone after its resume
    expect(await readFile(join(record, "records-at-quiesce"), "utf8")).toBe("web--shop--recorder.json\n");
    expect(await readdir(join(stateDir, "client", "quiesced"))).toEqual([]);
  }, 30_000);

  test("in dry-run the plugin is told so and no output directory is made", async () => {
    await Bun.write(join(record, "calls"), "");
    const stateDir = join(root, "dry", "state");
    const run = await runTasks(join(root, "dry"), [{ key: "recorder", options: { state_dir: stateDir } }], {
      pluginDir,
      isDryRun: true,
    });
    expect(run.outcome.status).toBe("ok");
    const calls = await readFile(join(record, "calls"), "utf8");
    expect(calls).toContain("phase=dump dry=1");
    expect(calls).not.toContain("exists=yes");
    expect(existsSync(join(root, "dry", "staging"))).toBe(false);
  }, 30_000);

  test("a plugin that skips every phase writes nothing and succeeds", async () => {
    const run = await runTasks(join(root, "skip"), [{ key: "skipper", options: null }], { pluginDir });
    expect(run.outcome.status).toBe("ok");
    expect(run.outcome.tasks[0]?.outputs).toEqual([]);
    expect(existsSync(join(run.outputDir, "skipper"))).toBe(false);
  }, 30_000);

  test("a failing plugin fails its service with its stderr, and its output is removed", async () => {
    const run = await runTasks(join(root, "break"), [{ key: "breaker", options: {} }], { pluginDir });
    expect(run.outcome.status).toBe("failed");
    expect(run.outcome.error).toMatch(/breaker: .*failed with exit code 4: breaker: disk full/);
    expect(existsSync(run.outputDir)).toBe(false);
  }, 30_000);

  test("text that is not a JSON object on stdout at quiesce fails the service, and resume still runs", async () => {
    const run = await runTasks(join(root, "chatty"), [{ key: "chatty", options: {} }], { pluginDir });
    expect(run.outcome.status).toBe("failed");
    expect(run.outcome.error).toContain(
      'Plugin "chatty" printed no JSON object in its quiesce phase: stopping now',
    );
    expect(await readdir(join(run.stateDir, "client", "quiesced"))).toEqual([]);
  }, 30_000);
});
