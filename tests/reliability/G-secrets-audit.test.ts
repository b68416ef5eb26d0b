// Catalogue #43, the secrets audit: unique canary values for the database password (password_file),
// the restic password, the SMTP password and the InfluxDB token travel through client runs (ok, failed,
// SIGTERM during the dump, disk full), server pulls (ok and failed) and maintain, all through the
// compiled binary, while a separate process samples /proc/*/cmdline every ~20 ms. Afterwards every
// log, mail, manifest, archive member, state and temp file is searched: the canaries appear nowhere.
// The influx CLI is a fake (the real one cannot be installed here); everything else is the real tool.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { randomUUID } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBinary } from "../e2e/binary.ts";
import {
  freePort,
  makeTempDir,
  type PostgresHandle,
  removeTempDir,
  type SmtpHandle,
  type SshdHandle,
  startPostgres,
  startSmtp,
  startSshd,
} from "../harness/index.ts";
import { type ClientFixture, createClientFixture } from "./support/client-fixture.ts";
import { shellQuote, writeExecutable, writeSlowWrapper } from "./support/fakebin.ts";
import { initFastRepository } from "./support/fast-restic.ts";
import { signalTree, startBinary, waitFor } from "./support/processes.ts";
import { openResults } from "./support/results.ts";
import {
  appendKnownHosts,
  archiveTimestamp,
  createServerFixture,
  placeArchive,
  type ServerFixture,
} from "./support/server-fixture.ts";
import { buildTarGz, manifestMember } from "./support/tarball.ts";
import { mountSmallFilesystem, type SmallFilesystem } from "./support/tmpfs.ts";

const results = openResults("G-secrets-audit");
const canaries = {
  database: `CANARY-db-${randomUUID()}`,
  restic: `CANARY-restic-${randomUUID()}`,
  smtp: `CANARY-smtp-${randomUUID()}`,
  influx: `CANARY-influx-${randomUUID()}`,
};

let root: string;
let secrets: string;
let postgres: PostgresHandle;
let smtp: SmtpHandle;
let sshd: SshdHandle;
let server: ServerFixture;
let disk: SmallFilesystem | undefined;
const logs: string[] = [];

/** Writes a 0600 secret file and returns its path. */
function secretFile(name: string, value: string): string {
  const path = join(secrets, name);
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return path;
}

/** A client that mails through the capture with SMTP AUTH (password from its file). */
function auditedClient(hostname: string, config: Record<string, unknown> = {}): ClientFixture {
  return createClientFixture(root, {
    hostname,
    config: {
      admin_email: "admin@example.org",
      mail: {
        transport: "smtp",
        smtp: {
          host: "127.0.0.1",
          port: smtp.port,
          starttls: "disabled",
          username: "mailer",
          password_file: join(secrets, "smtp.pass"),
        },
      },
      ...config,
    },
  });
}

/** A postgresql task with the canary password. */
function databaseTask(port = postgres.port): Record<string, unknown> {
  return {
    database: "app",
    hostname: "127.0.0.1",
    port,
    username: "app",
    password_file: join(secrets, "db.pass"),
  };
}

/** Runs the binary at debug level (every argv and env name logged) and keeps its output for the audit. */
async function audited(args: string[]): Promise<number> {
  const result = await runBinary([...args, "--log-level", "debug"]);
  logs.push(result.stdout, result.stderr);
  return result.exitCode;
}

/** Every regular file under a directory (not following links), skipping some paths. */
function filesUnder(directory: string, skip: (path: string) => boolean): string[] {
  const found: string[] = [];
  const visit = (path: string) => {
    if (skip(path)) return;
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(path);
    } catch {
      return;
    }
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
    else if (stat.isFile() && stat.size < 64 * 1024 * 1024) found.push(path);
  };
  visit(directory);
  return found;
}

/** Returns where a canary appears in text (empty when nowhere). */
function canaryHits(text: string, where: string): string[] {
  return Object.entries(canaries)
    .filter(([, value]) => text.includes(value))
    .map(([name]) => `${name} canary in ${where}`);
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-G43-");
  secrets = join(root, "secrets");
  mkdirSync(secrets, { mode: 0o700 });
  [postgres, smtp, sshd, server] = await Promise.all([
    startPostgres(),
    startSmtp({ auth: { user: "mailer", password: canaries.smtp } }),
    startSshd(),
    createServerFixture(root),
  ]);
  // set up before the sampler starts: psql carries this statement in its argv
  await postgres.psql(`CREATE ROLE app LOGIN PASSWORD '${canaries.database}'`);
  await postgres.psql("CREATE DATABASE app OWNER app");
  secretFile("db.pass", canaries.database);
  secretFile("smtp.pass", canaries.smtp);
  secretFile("influx.token", canaries.influx);
  secretFile("restic.pass", canaries.restic);
  writeFileSync(join(secrets, "canaries"), `${Object.values(canaries).join("\n")}\n`, { mode: 0o600 });
}, 180_000);

afterAll(async () => {
  disk?.unmount();
  await Promise.all([postgres?.stop(), smtp?.stop(), sshd?.stop()]);
  if (root) await removeTempDir(root);
}, 120_000);

describe("secrets audit", () => {
  results.caseTest(
    43,
    "the database, restic and SMTP passwords and the InfluxDB token never appear in any process's argv, in logs, mails, manifests, archives, state or temp files, across client runs (ok, failed, SIGTERM, disk full), pulls (ok, failed) and maintain; the temporary .pgpass is private and removed",
    async () => {
      const dataDir = join(root, "data");
      mkdirSync(dataDir);
      writeFileSync(join(dataDir, "f.txt"), "data\n");
      const tokenWitness = join(root, "influx-token.sha256");
      const influx = writeExecutable(
        join(root, "bin"),
        "influx",
        `# a fake influx CLI: proves the token arrived in its environment (by hash), writes a backup file\n[ -n "$INFLUX_TOKEN" ] || { echo "no token" >&2; exit 1; }\nprintf '%s' "$INFLUX_TOKEN" | sha256sum | cut -d' ' -f1 > ${shellQuote(tokenWitness)}\nfor last; do :; done\nmkdir -p "$last" && echo "influx backup" > "$last/backup.manifest"\necho "backup done for org $(printf '%s' "$*" | sed 's/--org=//')" >&2\n`,
      );
      const dumpMarker = join(root, "dump-started");
      const slowDump = writeSlowWrapper(join(root, "bin"), "slow-pg_dump", {
        realProgram: ["pg_dump"],
        delaySeconds: 30,
        startedMarker: dumpMarker,
      });

      const samplerOutput = join(root, "sampler.json");
      const stopFile = join(root, "sampler.stop");
      const sampler = Bun.spawn(
        [
          process.execPath,
          join(import.meta.dir, "support", "cmdline-sampler.ts"),
          join(secrets, "canaries"),
          samplerOutput,
          stopFile,
        ],
        { stdout: "inherit", stderr: "inherit" },
      );
      const scenarios: string[] = [];
      try {
        // 1. client run with a dump, influx, files and a failing command: partial, mailed with SMTP AUTH
        const client = auditedClient("g43", { tools: { influx_cmd: [influx] } });
        client.writeService("db", "app", { postgresql: databaseTask() });
        client.writeService("tsdb", "metrics", {
          influxdb: { org: "acme", token_file: join(secrets, "influx.token") },
        });
        client.writeService("files", "data", { files: { paths: [dataDir] } });
        client.writeService("cmd", "failing", { command: { argv: ["false"], output: "x" } });
        expect(await audited(["client", "run", "--config-dir", client.configDir])).toBe(3);
        expect(readFileSync(tokenWitness, "utf8").trim()).toBe(
          new Bun.CryptoHasher("sha256").update(canaries.influx).digest("hex"),
        );
        scenarios.push("client run (partial, mailed)");

        // 2. failures: the database is down, influx fails
        const failing = auditedClient("g43-fail", {
          tools: { influx_cmd: [join(root, "bin", "no-such-influx")] },
        });
        failing.writeService("db", "app", { postgresql: databaseTask(await freePort()) });
        failing.writeService("tsdb", "metrics", {
          influxdb: { org: "acme", token_file: join(secrets, "influx.token") },
        });
        expect(await audited(["client", "run", "--config-dir", failing.configDir])).toBe(1);
        scenarios.push("client run (database down, tool missing)");

        // 3. SIGTERM during a slow dump: the .pgpass is private while it exists and gone afterwards
        const secretDirectoriesBefore = readdirSync(tmpdir());
        const terminated = auditedClient("g43-term", { tools: { pg_dump_cmd: [slowDump] } });
        terminated.writeService("db", "app", { postgresql: databaseTask() });
        const run = startBinary([
          "client",
          "run",
          "--config-dir",
          terminated.configDir,
          "--log-level",
          "debug",
        ]);
        await waitFor(() => existsSync(dumpMarker), { timeoutMs: 30_000, description: "the dump to start" });
        const secretDirectories = readdirSync(tmpdir()).filter(
          (name) => name.startsWith("backupctl-secret-") && !secretDirectoriesBefore.includes(name),
        );
        expect(secretDirectories.length).toBeGreaterThan(0);
        for (const name of secretDirectories) {
          const directory = join(tmpdir(), name);
          expect(lstatSync(directory).mode & 0o777).toBe(0o700);
          for (const file of readdirSync(directory))
            expect(lstatSync(join(directory, file)).mode & 0o777).toBe(0o600);
        }
        signalTree(run.pid, "SIGTERM");
        expect(await run.exited).toBe(143);
        logs.push(run.stdout(), run.stderr());
        expect(readdirSync(tmpdir()).filter((name) => secretDirectories.includes(name))).toEqual([]);
        scenarios.push("client run (SIGTERM during the dump)");

        // 4. disk full: the dump's password in use while the staging fills up
        disk = mountSmallFilesystem(join(root, "small-disk"), "size=8m");
        const full = auditedClient("g43-full", { base_backup_dir: disk.path });
        full.writeService("db", "app", { postgresql: databaseTask() });
        full.writeService("cmd", "big", {
          command: { argv: ["head", "-c", "20000000", "/dev/urandom"], output: "big.bin" },
        });
        expect(await audited(["client", "run", "--config-dir", full.configDir])).not.toBe(0);
        scenarios.push("client run (disk full)");

        // 5. and 6. pulls into a repository whose password is the restic canary: one stored, one refused
        const hosts = ["g43-pull", "g43-hostile"];
        appendKnownHosts(server.knownHostsFile, [
          `${hosts.map((host) => `[${host}]:${sshd.port}`).join(",")} ${sshd.hostPublicKey}`,
        ]);
        for (const host of hosts) {
          initFastRepository(
            join(server.repositoryRoot, host),
            join(secrets, "restic.pass"),
            canaries.restic,
          );
          const members =
            host === "g43-hostile"
              ? [{ name: "../escape", data: "x" }]
              : [{ name: "./f.txt", data: "pulled\n" }];
          placeArchive(
            join(sshd.root, host),
            `${host}-${archiveTimestamp(new Date(Date.now() - 60_000))}.tar.gz`,
            buildTarGz([manifestMember(host), ...members]),
            { owner: { uid: sshd.uid, gid: sshd.gid } },
          );
        }
        server.writeConfig(
          hosts.map((host) => ({
            hostname: host,
            port: sshd.port,
            sshUser: sshd.user,
            keyFile: sshd.privateKeyPath,
            remoteDir: join(sshd.remoteRoot, host),
            extra: { password_file: join(secrets, "restic.pass") },
          })),
          {
            global: {
              admin_email: "admin@example.org",
              mail: {
                transport: "smtp",
                smtp: {
                  host: "127.0.0.1",
                  port: smtp.port,
                  starttls: "disabled",
                  username: "mailer",
                  password_file: join(secrets, "smtp.pass"),
                },
              },
            },
            restic: { maintenance: { keep_last: 3 } },
          },
        );
        expect(await audited(["server", "pull", "--config-dir", server.configDir])).toBe(3);
        expect(server.hostState("g43-pull")?.last_attempt?.status).toBe("ok");
        scenarios.push("server pull (one stored, one refused, mailed)");

        // 7. maintain of those repositories
        expect(await audited(["maintain", "--config-dir", server.configDir, "--host", "g43-pull"])).toBe(0);
        scenarios.push("maintain");
      } finally {
        writeFileSync(stopFile, "");
        await sampler.exited;
      }

      const sampled = JSON.parse(readFileSync(samplerOutput, "utf8")) as {
        samples: number;
        processesSeen: number;
        hits: { command: string }[];
      };
      const mails = await smtp.waitForMessages(5, 15_000);
      const hits: string[] = sampled.hits.map((hit) => `argv of "${hit.command}"`);
      for (const [index, log] of logs.entries()) hits.push(...canaryHits(log, `log ${index}`));
      for (const mail of smtp.messages)
        hits.push(...canaryHits(`${mail.raw}\n${mail.text}`, `mail "${mail.subject}"`));
      let archiveBytes = 0;
      for (const client of [
        join(root, "g43-backups"),
        join(root, "g43-fail-backups"),
        join(root, "g43-term-backups"),
      ]) {
        if (!existsSync(client)) continue;
        for (const name of readdirSync(client).filter((entry) => entry.endsWith(".tar.gz"))) {
          const content = Bun.spawnSync(["tar", "-xzOf", join(client, name)], { stdout: "pipe" }).stdout;
          archiveBytes += content.length;
          hits.push(...canaryHits(content.toString("latin1"), `archive ${name}`));
        }
      }
      const skip = (path: string) =>
        path === secrets || path.startsWith(`${root}/repositories`) || path.startsWith(`${root}/small-disk`);
      const files = [
        ...filesUnder(root, skip),
        ...readdirSync(tmpdir())
          .filter((name) => name.startsWith("backupctl-"))
          .flatMap((name) => filesUnder(join(tmpdir(), name), () => false)),
      ];
      let fileBytes = 0;
      for (const file of files) {
        const content = readFileSync(file);
        fileBytes += content.length;
        hits.push(...canaryHits(content.toString("latin1"), file));
      }
      const logBytes =
        logs.reduce((sum, log) => sum + log.length, 0) +
        smtp.messages.reduce((sum, mail) => sum + mail.raw.length, 0);
      results.figure("secrets.canary-hits", hits.length, hits.slice(0, 20).join("; "));
      results.figure(
        "secrets.cmdline-samples",
        sampled.samples,
        `${sampled.processesSeen} distinct processes seen`,
      );
      results.figure(
        "secrets.log-and-mail-bytes-searched",
        logBytes,
        `${logs.length / 2} runs, ${smtp.messages.length} mails`,
      );
      results.figure(
        "secrets.files-searched",
        files.length,
        `${fileBytes} bytes of state, temp and work files, plus ${archiveBytes} bytes of archive members`,
      );
      results.figure("secrets.scenarios", scenarios.length, scenarios.join("; "));
      expect(mails.length).toBeGreaterThanOrEqual(5);
      expect(smtp.messages.every((mail) => mail.authenticatedUser === "mailer")).toBe(true);
      expect(sampled.samples).toBeGreaterThan(50);
      expect(hits).toEqual([]);
    },
    300_000,
  );
});
