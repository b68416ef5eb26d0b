// Faults of the compose command that a real dockerd will not produce on demand: a `start` that fails
// once or always, a `stop` that fails halfway, nothing running. A fake compose command written by this
// test answers `ps`, `stop` and `start` and logs every call; the real docker runs in docker.test.ts.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { quiesceRecordDir } from "../../../mod/client/quiesce-records.ts";
import { dockerTaskSchema } from "../../../mod/config/tasks/docker.ts";
import { makeTempDir, removeTempDir } from "../../harness/tmp.ts";
import { runTasks, writeScript } from "./fixtures.ts";

describe("docker task with a failing compose command", () => {
  let root: string;
  let fakeCompose: string;
  let behaviour: string;
  let calls: string;
  let runCount = 0;

  beforeAll(async () => {
    root = await makeTempDir("bkpctl-dockerfaults-");
    behaviour = join(root, "behaviour");
    calls = join(root, "calls");
    // behaviour lines: "running=app db", "start-failures=N" (then it works), "stop-fails=1"
    fakeCompose = await writeScript(
      join(root, "fake-compose"),
      `#!/bin/bash
source "${behaviour}"
while [[ $1 == --* && $1 != --timeout ]]; do shift 2; done
echo "$*" >> "${calls}"
case $1 in
  ps) printf '%s\\n' $running ;;
  stop) if [[ \${stop_fails-0} == 1 ]]; then echo "Stopping \${*: -1} ... error: daemon went away" >&2; exit 1; fi ;;
  start)
    failures=$(cat "${root}/start-failures" 2>/dev/null || echo 0)
    if (( failures < \${start_failures-0} )); then
      echo $((failures + 1)) > "${root}/start-failures"
      echo "ERROR: for $2  Cannot start service $2: driver failed" >&2
      exit 1
    fi ;;
esac
`,
    );
  });
  afterAll(async () => {
    if (root) await removeTempDir(root);
  });
  beforeEach(async () => {
    await writeFile(calls, "");
    await writeFile(join(root, "start-failures"), "0");
  });

  /** Runs a docker task against the fake compose command with the given behaviour. */
  async function runWith(settings: string) {
    await writeFile(behaviour, `${settings}\n`);
    runCount++;
    const task = dockerTaskSchema.parse({
      compose_file: join(root, "compose.yml"),
      backup_config: false,
      stop_wait_seconds: 7,
    });
    const run = await runTasks(join(root, `run${runCount}`), [{ key: "docker", options: task }], {
      tools: { docker_cmd: [fakeCompose] },
    });
    return { ...run, calls: (await readFile(calls, "utf8")).trim().split("\n") };
  }

  test("a start that fails once is tried again", async () => {
    const run = await runWith("running='app db'; start_failures=1");
    expect(run.outcome.status).toBe("ok");
    expect(run.calls).toEqual([
      "ps --services --filter status=running",
      "stop --timeout 7 app db",
      "start app db",
      "start app db",
    ]);
    expect(await readdir(quiesceRecordDir(run.stateDir))).toEqual([]);
  }, 30_000);

  test("a start that keeps failing fails the service, names what is still down, and keeps the record", async () => {
    const run = await runWith("running='app db'; start_failures=99");
    expect(run.outcome.status).toBe("failed");
    expect(run.outcome.error).toContain('Cannot start "app", "db" again');
    expect(run.outcome.error).toContain("Cannot start service app: driver failed");
    expect(run.outcome.error).toContain("start them by hand:");
    expect(run.calls.filter((call) => call.startsWith("start"))).toHaveLength(3);
    // the next run finds the record and starts them
    const [record] = await readdir(quiesceRecordDir(run.stateDir));
    expect(record).toBe("web--shop--docker.json");
    const data = JSON.parse(
      await readFile(join(quiesceRecordDir(run.stateDir), record as string), "utf8"),
    ).data;
    expect(data.services).toEqual(["app", "db"]);
  }, 30_000);

  test("a stop that fails halfway still starts every service it was asked to stop", async () => {
    const run = await runWith("running='app db'; stop_fails=1");
    expect(run.outcome.status).toBe("failed");
    expect(run.outcome.error).toContain("daemon went away");
    expect(run.calls).toEqual([
      "ps --services --filter status=running",
      "stop --timeout 7 app db",
      "start app db",
    ]);
    expect(await readdir(quiesceRecordDir(run.stateDir))).toEqual([]);
  }, 30_000);

  test("with nothing running, nothing is stopped, recorded or started", async () => {
    const run = await runWith("running=''");
    expect(run.outcome.status).toBe("ok");
    expect(run.calls).toEqual(["ps --services --filter status=running"]);
    expect(existsSync(quiesceRecordDir(run.stateDir))).toBe(false);
  }, 30_000);
});
