// Catalogue #20–#23, failures inside `client run` (the compiled binary) against real PostgreSQL, a
// private dockerd with busybox compose stacks and the SMTP capture. Faults come from wrappers around
// the real tools (pg_dump cut short, compose stop/start failing), from wrong credentials, a missing
// tool, a database that is down and an unreachable docker daemon. Stacks must run again, failed
// services stay out of the archive, the others are archived (exit 3), old archives are not pruned,
// and the admin gets a mail.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runBinary } from "../e2e/binary.ts";
import { runSync } from "../e2e/fixtures.ts";
import {
  type DockerHandle,
  freePort,
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
import { writeExecutable } from "./support/fakebin.ts";
import { openResults } from "./support/results.ts";
import { type ComposeStackFixture, startComposeStack } from "./support/stack.ts";

const results = openResults("C-client-faults");

let root: string;
let docker: DockerHandle;
let postgres: PostgresHandle;
let smtp: SmtpHandle;
let compose: ComposeWrapper;
let stacks: Record<"one" | "two" | "three", ComposeStackFixture>;
let passwordFile: string;
let wrongPasswordFile: string;
let pgDumpWrapper: string;
let dataDir: string;
const restartTally: string[] = [];

/** A client with mail to the capture and the compose and pg_dump wrappers. */
function newClient(hostname: string, tools: Record<string, unknown> = {}): ClientFixture {
  return createClientFixture(root, {
    hostname,
    config: {
      admin_email: "admin@example.org",
      mail: {
        transport: "smtp",
        from: `backup@${hostname}.example.org`,
        smtp: { host: "127.0.0.1", port: smtp.port, starttls: "disabled" },
      },
      tools: { docker_cmd: compose.command, pg_dump_cmd: [pgDumpWrapper], ...tools },
    },
  });
}

/** Runs client run with the private dockerd (or the given DOCKER_HOST). */
async function runClient(client: ClientFixture, dockerHost?: string) {
  return await runBinary(["client", "run", "--config-dir", client.configDir], {
    env: { ...process.env, DOCKER_HOST: dockerHost ?? docker.env.DOCKER_HOST, JOURNAL_STREAM: "" } as Record<
      string,
      string
    >,
  });
}

/** The manifest of an archive of a client. */
function manifestOf(
  client: ClientFixture,
  archive: string,
): { status: string; services: { type: string; name: string; status: string; error?: string }[] } {
  return JSON.parse(runSync(["tar", "-xOzf", join(client.baseDir, archive), "./manifest.json"]));
}

/** Top-level service dirs in an archive ("type/name"). */
function servicesInArchive(client: ClientFixture, archive: string): string[] {
  const names = runSync(["tar", "-tzf", join(client.baseDir, archive)]).split("\n");
  return [
    ...new Set(
      names
        .map((name) => name.split("/").slice(1, 3).join("/"))
        .filter((name) => name.includes("/") && !name.endsWith("/")),
    ),
  ].sort();
}

/** Writes an old archive (2020) that a failed run must not prune. */
function plantOldArchive(client: ClientFixture): string {
  const name = `${client.hostname}-20200101_000000.tar.gz`;
  mkdirSync(client.baseDir, { recursive: true });
  writeFileSync(join(client.baseDir, name), "old archive");
  writeFileSync(join(client.baseDir, `${name}.sha256`), `${"0".repeat(64)}  ${name}\n`);
  return name;
}

/** The mails received for a host since count. */
async function mailsFor(hostname: string, since: number): Promise<string> {
  await smtp.waitForMessages(since + 1, 15_000);
  return smtp.messages
    .slice(since)
    .filter((mail) => mail.subject.includes(hostname))
    .map((mail) => `${mail.subject}\n${mail.text}`)
    .join("\n");
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-C20-");
  [docker, postgres, smtp] = await Promise.all([startDocker(), startPostgres(), startSmtp()]);
  const [one, two, three] = await Promise.all(
    (["one", "two", "three"] as const).map((project) =>
      startComposeStack(docker, root, { project, services: ["app"] }),
    ),
  );
  stacks = {
    one: one as ComposeStackFixture,
    two: two as ComposeStackFixture,
    three: three as ComposeStackFixture,
  };
  compose = createComposeWrapper(join(root, "bin"), docker.composeCommand);
  await postgres.psql("CREATE ROLE shop LOGIN PASSWORD 'right-password'");
  for (const database of ["shop", "half", "truncated", "emptied"]) {
    await postgres.psql(`CREATE DATABASE ${database} OWNER shop`);
    await postgres.psql(
      "CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 3000) g; ALTER TABLE orders OWNER TO shop",
      { database },
    );
  }
  passwordFile = join(root, "shop.pass");
  writeFileSync(passwordFile, "right-password\n", { mode: 0o600 });
  wrongPasswordFile = join(root, "wrong.pass");
  writeFileSync(wrongPasswordFile, "wrong-password\n", { mode: 0o600 });
  // pg_dump, except for the databases named "half" (half the output, exit 1) and "truncated*" (cut, exit 0)
  pgDumpWrapper = writeExecutable(
    join(root, "bin"),
    "pg_dump-faults",
    `mode=real\nfor argument in "$@"; do case "$argument" in --dbname=half) mode=half;; --dbname=truncated) mode=truncated;; esac; done\nif [ "$mode" = half ]; then pg_dump "$@" | head -c 4000; exit 1; fi\nif [ "$mode" = truncated ]; then pg_dump "$@" | head -c 4000; exit 0; fi\nexec pg_dump "$@"\n`,
  );
  dataDir = join(root, "srv", "data");
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, "file.txt"), "data\n");
}, 180_000);

afterAll(async () => {
  results.figure(
    "containers.restarted-after-injected-failures",
    `${restartTally.length}/4`,
    restartTally.join("; "),
  );
  await Promise.all([docker?.stop(), postgres?.stop(), smtp?.stop()]);
  if (root) await removeTempDir(root);
}, 120_000);

/** A postgresql task block. */
function dump(database: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    database,
    hostname: "127.0.0.1",
    port: postgres.port,
    username: "shop",
    password_file: passwordFile,
    ...extra,
  };
}

describe("client run failures", () => {
  results.caseTest(
    20,
    "dumps that fail loudly (half the output then exit 1, wrong password, missing tool, database down) and a copy that fails after the stack was stopped: those services are failed and left out, their stacks run again, the rest is archived (exit 3), old archives stay, the admin is mailed",
    async () => {
      compose.reset();
      const client = newClient("c20", { mariadb_dump_cmd: [join(root, "bin", "no-such-mariadb-dump")] });
      const old = plantOldArchive(client);
      const closedPort = await freePort();
      client.writeService("db", "half", { postgresql: dump("half"), docker: stacks.one.task() });
      client.writeService("db", "badpass", {
        postgresql: dump("shop", { password_file: wrongPasswordFile }),
        docker: stacks.one.task(),
      });
      client.writeService("db", "notool", { mariadb: { database: "shop" }, docker: stacks.one.task() });
      client.writeService("db", "down", {
        postgresql: dump("shop", { port: closedPort }),
        docker: stacks.one.task(),
      });
      client.writeService("files", "copyfails", {
        docker: stacks.two.task(),
        files: { paths: [join(root, "does-not-exist")] },
      });
      client.writeService("files", "good", { files: { paths: [dataDir] } });
      const mailsBefore = smtp.messages.length;

      const result = await runClient(client);

      expect(result.exitCode).toBe(3);
      const [archive] = client.archives().filter((name) => name !== old);
      const manifest = manifestOf(client, archive as string);
      const failed = manifest.services
        .filter((service) => service.status === "failed")
        .map((service) => `${service.type}/${service.name}`);
      expect(failed.sort()).toEqual(["db/badpass", "db/down", "db/half", "db/notool", "files/copyfails"]);
      expect(servicesInArchive(client, archive as string)).toEqual(["files/good"]);
      expect(await stacks.one.running()).toEqual(["app"]);
      expect(await stacks.two.running()).toEqual(["app"]);
      // the stack whose copy failed was stopped and started again; the dumps failed before any stop
      const calls = compose.calls().filter((call) => call.startsWith("stop") || call.startsWith("start"));
      expect(calls).toEqual(["stop two", "start two"]);
      expect(client.archives()).toContain(old);
      expect(client.leftovers()).toEqual([]);
      const mail = await mailsFor("c20", mailsBefore);
      for (const service of failed) expect(mail).toContain(service);
      restartTally.push("copy failed after stop: started again");
      results.figure(
        "dump-failures.loud-failures-caught",
        `${failed.length - 1}/4`,
        "half output + exit 1, wrong password, missing tool, database down",
      );
    },
  );

  results.caseTest(
    21,
    "a dump that exits 0 but stops before its completion marker fails the service and is left out of the archive",
    async () => {
      compose.reset();
      const client = newClient("c21");
      client.writeService("db", "truncated", { postgresql: dump("truncated") });
      client.writeService("files", "good", { files: { paths: [dataDir] } });
      const result = await runClient(client);
      expect(result.exitCode).toBe(3);
      const [archive] = client.archives();
      const manifest = manifestOf(client, archive as string);
      const truncated = manifest.services.find((service) => service.name === "truncated");
      expect(truncated?.status).toBe("failed");
      expect(truncated?.error).toMatch(/incomplete|does not end with/);
      expect(servicesInArchive(client, archive as string)).toEqual(["files/good"]);
    },
  );

  results.caseTest(
    21,
    "a dump that exits 0 from a database emptied since the last run raises an alert about the size drop",
    async () => {
      compose.reset();
      const client = newClient("c21-emptied");
      client.writeService("db", "emptied", { postgresql: dump("emptied") });
      expect((await runClient(client)).exitCode).toBe(0);
      await postgres.psql("TRUNCATE orders", { database: "emptied" });
      await Bun.sleep(1100);
      const mailsBefore = smtp.messages.length;
      const result = await runClient(client);
      const alerted = /shr[ai]nk|smaller|size drop|dropped/i.test(result.stderr);
      results.figure(
        "dump-failures.size-drop-alert",
        alerted ? "raised" : "not raised",
        "a dump 3000 rows → 0 rows, exit 0",
      );
      expect(alerted).toBe(true);
      expect(smtp.messages.length).toBeGreaterThan(mailsBefore);
    },
  );

  results.caseTest(
    22,
    "compose stop failing on stack 2 of 3: every stack this run stopped runs again, the stack that was stopped before the run stays stopped, the failure is reported; an unreachable docker daemon fails only the docker services",
    async () => {
      compose.reset();
      await stacks.three.stop(["app"]);
      const client = newClient("c22");
      for (const name of ["one", "two", "three"] as const) {
        client.writeService("svc", name, { docker: stacks[name].task(), files: { paths: [dataDir] } });
      }
      compose.failStop("two");
      const mailsBefore = smtp.messages.length;
      const result = await runClient(client);
      expect(result.exitCode).toBe(3);
      expect(await stacks.one.running()).toEqual(["app"]);
      expect(await stacks.two.running()).toEqual(["app"]);
      expect(await stacks.three.running()).toEqual([]);
      const [archive] = client.archives();
      const manifest = manifestOf(client, archive as string);
      expect(manifest.services.find((service) => service.name === "two")?.error).toMatch(/stop/);
      expect(await mailsFor("c22", mailsBefore)).toContain("svc/two");
      expect(client.stopRecords()).toEqual([]);
      restartTally.push(
        "stop failed on stack 2 of 3: started again; the stack stopped before stayed stopped",
      );

      // the daemon cannot be reached: nothing is stopped, the docker services fail, the files service is archived
      compose.reset();
      client.writeService("files", "good", { files: { paths: [dataDir] } });
      await Bun.sleep(1100);
      const unreachable = await runClient(client, `unix://${join(root, "no-docker.sock")}`);
      expect(unreachable.exitCode).toBe(3);
      expect(await stacks.one.running()).toEqual(["app"]);
      expect(await stacks.three.running()).toEqual([]);
      expect(compose.calls().filter((call) => call.startsWith("stop"))).toEqual([]);
      await stacks.three.up();
    },
  );

  results.caseTest(
    23,
    "compose start failing once is retried and the stack runs; failing always fails the run (exit 1, its only service) with a mail naming the stack still down, and the next run starts it from the kept record",
    async () => {
      compose.reset();
      const client = newClient("c23");
      client.writeService("svc", "one", { docker: stacks.one.task(), files: { paths: [dataDir] } });
      compose.failStart("one", 1);
      const once = await runClient(client);
      expect(once.exitCode).toBe(0);
      expect(once.stderr).toContain("trying again");
      expect(await stacks.one.running()).toEqual(["app"]);
      restartTally.push("start failed once: retried, running");

      compose.failStart("one", "always");
      await Bun.sleep(1100);
      const mailsBefore = smtp.messages.length;
      const always = await runClient(client);
      expect(always.exitCode).toBe(1);
      expect(await stacks.one.running()).toEqual([]);
      const mail = await mailsFor("c23", mailsBefore);
      expect(mail).toContain('"app"');
      expect(mail).toMatch(/start them by hand|still stopped/);
      expect(client.stopRecords()).toHaveLength(1);

      compose.failStart("one", 0);
      await Bun.sleep(1100);
      const next = await runClient(client);
      expect(next.exitCode).toBe(0);
      expect(next.stderr).toContain("did not start it again");
      expect(await stacks.one.running()).toEqual(["app"]);
      expect(client.stopRecords()).toEqual([]);
      restartTally.push("start failed always: alert mailed, started by the next run");
    },
  );
});
