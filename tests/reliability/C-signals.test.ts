// Catalogue #24, SIGTERM in each phase of `client run` (the compiled binary): during the dump, the
// compose stop, the copy and the archive, sent to the whole process tree as systemd does when a
// unit times out. Each run must end 143 with its stack running, no lock, stop record, staging dir
// or .partial left, no child process alive, and a mail. A second SIGTERM during cleanup ends the
// process at once; the next run then starts the stack from the record the first one kept.
// Slow phases come from wrappers that sleep before running the real tool (fakes in the H2 sense).

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runBinary } from "../e2e/binary.ts";
import {
  type DockerHandle,
  makeTempDir,
  type PostgresHandle,
  removeTempDir,
  type SmtpHandle,
  startDocker,
  startPostgres,
  startSmtp,
} from "../harness/index.ts";
import { type ClientFixture, createClientFixture } from "./support/client-fixture.ts";
import { type ComposeWrapper, createComposeWrapper } from "./support/compose-wrapper.ts";
import { writeSlowWrapper } from "./support/fakebin.ts";
import { signalTree, startBinary, survivors, waitFor, watchDescendants } from "./support/processes.ts";
import { median } from "./support/random.ts";
import { openResults } from "./support/results.ts";
import { type ComposeStackFixture, startComposeStack } from "./support/stack.ts";

const results = openResults("C-signals");
const phases = ["dump", "stop", "copy", "archive"] as const;

let root: string;
let docker: DockerHandle;
let postgres: PostgresHandle;
let smtp: SmtpHandle;
let compose: ComposeWrapper;
let stack: ComposeStackFixture;
let passwordFile: string;
let dataDir: string;
const markers: Record<string, string> = {};
const slowTools: Record<string, string> = {};
const msToStackRunning: number[] = [];
const msToExit: number[] = [];

/** A client whose phase `slow` takes 30 s (a wrapper sleeps, then runs the real tool). */
function clientSlowIn(slow: (typeof phases)[number] | "none", hostname: string): ClientFixture {
  const client = createClientFixture(root, {
    hostname,
    config: {
      admin_email: "admin@example.org",
      mail: { transport: "smtp", smtp: { host: "127.0.0.1", port: smtp.port, starttls: "disabled" } },
      tools: {
        docker_cmd: compose.command,
        ...(slow === "dump" ? { pg_dump_cmd: [slowTools.dump] } : {}),
        ...(slow === "copy" ? { rsync_cmd: [slowTools.copy] } : {}),
        ...(slow === "archive" ? { tar_cmd: [slowTools.archive] } : {}),
      },
    },
  });
  client.writeService("app", "shop", {
    postgresql: {
      database: "shop",
      hostname: "127.0.0.1",
      port: postgres.port,
      username: "shop",
      password_file: passwordFile,
    },
    docker: stack.task(),
    files: { paths: [dataDir] },
  });
  return client;
}

/** Runs with the private dockerd. */
function start(client: ClientFixture) {
  return startBinary(["client", "run", "--config-dir", client.configDir], {
    env: { ...process.env, ...docker.env, JOURNAL_STREAM: "" } as Record<string, string>,
  });
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-C24-");
  [docker, postgres, smtp] = await Promise.all([startDocker(), startPostgres(), startSmtp()]);
  stack = await startComposeStack(docker, root, { project: "signals", services: ["web", "worker"] });
  compose = createComposeWrapper(join(root, "bin"), docker.composeCommand);
  await postgres.psql("CREATE ROLE shop LOGIN PASSWORD 'pw-signals'");
  await postgres.psql("CREATE DATABASE shop OWNER shop");
  passwordFile = join(root, "shop.pass");
  writeFileSync(passwordFile, "pw-signals\n", { mode: 0o600 });
  dataDir = join(root, "srv", "data");
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, "file.txt"), "data\n");
  for (const [phase, real] of [
    ["dump", "pg_dump"],
    ["copy", "rsync"],
    ["archive", "tar"],
  ] as const) {
    markers[phase] = join(root, `started-${phase}`);
    slowTools[phase] = writeSlowWrapper(join(root, "bin"), `slow-${real}`, {
      realProgram: [real],
      delaySeconds: 30,
      startedMarker: markers[phase],
    });
  }
}, 180_000);

afterAll(async () => {
  results.figure(
    "sigterm.median-ms-to-stack-running",
    Math.round(median(msToStackRunning)),
    `${msToStackRunning.length} phases where the stack was stopped`,
  );
  results.figure(
    "sigterm.worst-ms-to-stack-running",
    Math.round(Math.max(0, ...msToStackRunning)),
    "TimeoutStopSec is 90 s by default",
  );
  results.figure("sigterm.median-ms-to-exit", Math.round(median(msToExit)));
  results.figure("sigterm.worst-ms-to-exit", Math.round(Math.max(0, ...msToExit)));
  await Promise.all([docker?.stop(), postgres?.stop(), smtp?.stop()]);
  if (root) await removeTempDir(root);
}, 120_000);

describe("SIGTERM during client run", () => {
  for (const phase of phases) {
    results.caseTest(
      24,
      `SIGTERM to the process tree during the ${phase}: exit 143, the stack runs again before the exit, nothing is left behind, the admin is mailed`,
      async () => {
        compose.reset();
        for (const marker of Object.values(markers)) rmSync(marker, { force: true });
        if (phase === "stop") compose.slow("stop", "signals", 30);
        const client = clientSlowIn(phase === "stop" ? "none" : phase, `c24-${phase}`);
        const isStarted = () =>
          phase === "stop" ? compose.started("stop", "signals") : existsSync(markers[phase] as string);
        const mailsBefore = smtp.messages.length;
        const run = start(client);
        const children = watchDescendants(run.pid, run.exited);
        await waitFor(isStarted, { timeoutMs: 60_000, description: `the ${phase} to start` });
        await Bun.sleep(200);
        const signalledAt = performance.now();
        signalTree(run.pid, "SIGTERM");
        let stackUpAt: number | undefined;
        let hasExited = false;
        void run.exited.then(() => {
          hasExited = true;
        });
        while (!hasExited) {
          if (stackUpAt === undefined && (await stack.running()).length === 2) stackUpAt = performance.now();
          await Bun.sleep(25);
        }
        const exitCode = await run.exited;
        msToExit.push(performance.now() - signalledAt);
        expect(exitCode).toBe(143);
        expect(await stack.running()).toEqual(["web", "worker"]);
        // the stack is down only during the stop and the copy
        if ((phase === "stop" || phase === "copy") && stackUpAt !== undefined)
          msToStackRunning.push(stackUpAt - signalledAt);
        expect(client.leftovers()).toEqual([]);
        expect(client.stopRecords()).toEqual([]);
        expect(client.archives()).toEqual([]);
        expect(await survivors(await children.finished)).toEqual([]);
        await smtp.waitForMessages(mailsBefore + 1, 15_000);
        const mail = smtp.messages
          .slice(mailsBefore)
          .find((message) => message.subject.includes(`c24-${phase}`));
        expect(mail?.text ?? "").toMatch(/SIGTERM|interrupted/i);
        expect(run.stderr().match(/Starting web, worker again/g)?.length ?? 0).toBeLessThanOrEqual(1);
      },
      120_000,
    );
  }

  results.caseTest(
    24,
    "a second SIGTERM while the stack is being started again ends the process at once (non-zero), and the next run starts the stack from the record",
    async () => {
      compose.reset();
      const client = clientSlowIn("copy", "c24-twice");
      const run = start(client);
      await waitFor(() => existsSync(markers.copy as string), {
        timeoutMs: 60_000,
        description: "the copy to start",
      });
      compose.slow("start", "signals", 30);
      signalTree(run.pid, "SIGTERM");
      await waitFor(() => compose.started("start", "signals"), {
        timeoutMs: 30_000,
        description: "the resume to start",
      });
      const secondAt = performance.now();
      signalTree(run.pid, "SIGTERM");
      const exitCode = await run.exited;
      const msToExitAfterSecond = performance.now() - secondAt;
      expect(exitCode).not.toBe(0);
      expect(msToExitAfterSecond).toBeLessThan(3000);
      results.figure("sigterm.second-signal-ms-to-exit", Math.round(msToExitAfterSecond));
      expect(client.stopRecords()).toHaveLength(1);
      compose.reset();
      client.writeConfig({ tools: { docker_cmd: compose.command } });
      const next = await runBinary(["client", "run", "--config-dir", client.configDir], {
        env: { ...process.env, ...docker.env, JOURNAL_STREAM: "" } as Record<string, string>,
      });
      expect(await stack.running()).toEqual(["web", "worker"]);
      expect(client.stopRecords()).toEqual([]);
      expect(next.exitCode).toBe(0);
    },
    120_000,
  );
});
