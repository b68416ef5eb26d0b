// Catalogue #44 and #45, mail: header injection through text backupctl puts into mails (a tool's
// stderr, an archive member's name), and SMTP servers that are down, silent, answer 4xx or lack the
// required TLS. Mails are captured by real SMTP servers (smtp-server) and read as raw DATA; runs are
// the compiled binary. The backup's own result never depends on the mail.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { SMTPServer } from "smtp-server";
import { runBinary } from "../e2e/binary.ts";
import {
  freePort,
  makeTempDir,
  removeTempDir,
  type SmtpHandle,
  type SshdHandle,
  startSmtp,
  startSshd,
} from "../harness/index.ts";
import { createClientFixture } from "./support/client-fixture.ts";
import { openResults } from "./support/results.ts";
import {
  appendKnownHosts,
  archiveTimestamp,
  createServerFixture,
  placeArchive,
  type ServerFixture,
} from "./support/server-fixture.ts";
import { buildTarGz, manifestMember } from "./support/tarball.ts";

const results = openResults("G-mail");
const injection = "\r\nBcc: evil@example.com\r\nX-Injected: yes";

let root: string;
let smtp: SmtpHandle;
let sshd: SshdHandle;
let server: ServerFixture;
let dataDir: string;

/** Header lines of a raw message (before the first empty line), unfolded. */
function headerLines(raw: string): string[] {
  const head = raw.split("\r\n\r\n")[0] ?? "";
  return head.replace(/\r\n[ \t]+/g, " ").split("\r\n");
}

/** A client whose mail goes to the given SMTP port, with one failing and one good service. */
function failingClient(hostname: string, smtpSettings: Record<string, unknown>) {
  const client = createClientFixture(root, {
    hostname,
    config: {
      admin_email: "admin@example.org",
      mail: { transport: "smtp", smtp: { host: "127.0.0.1", timeout_seconds: 2, ...smtpSettings } },
    },
  });
  client.writeService("cmd", "noisy", {
    command: {
      argv: [
        "sh",
        "-c",
        `printf 'oops${injection.replaceAll("\r", "\\r").replaceAll("\n", "\\n")}\\n' >&2; exit 1`,
      ],
      output: "x.out",
    },
  });
  client.writeService("files", "good", { files: { paths: [dataDir] } });
  return client;
}

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-G44-");
  [smtp, sshd, server] = await Promise.all([startSmtp(), startSshd(), createServerFixture(root)]);
  dataDir = join(root, "data");
  mkdirSync(dataDir);
  writeFileSync(join(dataDir, "f.txt"), "f\n");
}, 120_000);

afterAll(async () => {
  await Promise.all([smtp?.stop(), sshd?.stop()]);
  if (root) await removeTempDir(root);
});

describe("mail", () => {
  results.caseTest(
    44,
    "CR/LF and a Bcc header in a tool's stderr and in an archive member's name reach the mail only in the body: no injected header, one-line subjects, RCPT TO only the configured address; CR/LF in a host name and a quoted recipient are refused by validation",
    async () => {
      const mailsBefore = smtp.messages.length;
      const client = failingClient("g44", { port: smtp.port, starttls: "disabled" });
      expect((await runBinary(["client", "run", "--config-dir", client.configDir])).exitCode).toBe(3);

      const host = "g44-server";
      appendKnownHosts(server.knownHostsFile, [`[${host}]:${sshd.port} ${sshd.hostPublicKey}`]);
      await server.createRepository(host);
      placeArchive(
        join(sshd.root, host),
        `${host}-${archiveTimestamp(new Date(Date.now() - 60_000))}.tar.gz`,
        buildTarGz([manifestMember(host), { name: `../evil${injection}`, data: "x" }]),
        { owner: { uid: sshd.uid, gid: sshd.gid } },
      );
      server.writeConfig(
        [
          {
            hostname: host,
            port: sshd.port,
            sshUser: sshd.user,
            keyFile: sshd.privateKeyPath,
            remoteDir: join(sshd.remoteRoot, host),
          },
        ],
        {
          global: {
            admin_email: "admin@example.org",
            mail: { transport: "smtp", smtp: { host: "127.0.0.1", port: smtp.port, starttls: "disabled" } },
          },
        },
      );
      expect((await runBinary(["server", "pull", "--config-dir", server.configDir])).exitCode).toBe(1);

      const mails = (await smtp.waitForMessages(mailsBefore + 3, 15_000)).slice(mailsBefore);
      const injected = mails.filter((mail) =>
        headerLines(mail.raw).some((line) => /^(Bcc|X-Injected):/i.test(line)),
      );
      const strayRecipients = mails
        .flatMap((mail) => mail.to)
        .filter((address) => address !== "admin@example.org");
      const multiLineSubjects = mails.filter((mail) => /[\r\n]/.test(mail.subject));
      results.figure(
        "mail.header-payloads-delivered",
        `${injected.length}/${mails.length}`,
        `${mails.length} mails: client failure, pull host failure, pull summary`,
      );
      expect({
        injected: injected.length,
        strayRecipients,
        multiLineSubjects: multiLineSubjects.length,
      }).toEqual({
        injected: 0,
        strayRecipients: [],
        multiLineSubjects: 0,
      });
      // the text is in the body (a tool's own line breaks stay line breaks there, harmless below the
      // header), and where it is quoted in one line its CR/LF are escaped
      expect(
        mails.some((mail) => mail.text.includes("Bcc: evil@example.com") && mail.text.includes("\\r\\n")),
      ).toBe(true);

      const invalid = createClientFixture(root, { hostname: "g44-invalid" });
      invalid.writeConfig({ admin_email: '"a@b x"@internal' });
      const quoted = await runBinary(["config", "validate", "--client", "--config-dir", invalid.configDir]);
      expect(quoted.exitCode).toBe(2);
      invalid.writeConfig({ hostname: "web\r\nBcc: evil@example.com" });
      const crlfHost = await runBinary(["config", "validate", "--client", "--config-dir", invalid.configDir]);
      expect(crlfHost.exitCode).toBe(2);
    },
  );

  results.caseTest(
    45,
    "an SMTP server that is closed, never greets, answers 4xx, or lacks required STARTTLS: each mail attempt ends within its timeout, the failure is logged, and the run's result (exit 3) is unchanged",
    async () => {
      const silentSockets: Socket[] = [];
      const silent: Server = createServer((socket) => {
        silentSockets.push(socket);
        socket.on("error", () => undefined);
      });
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", () => resolve()));
      const silentPort = (silent.address() as { port: number }).port;
      const busy = new SMTPServer({
        secure: false,
        authOptional: true,
        disabledCommands: ["STARTTLS", "AUTH"],
        logger: false,
        onMailFrom(_address, _session, callback) {
          const error = new Error("mailbox busy, try later") as Error & { responseCode: number };
          error.responseCode = 451;
          callback(error);
        },
      });
      await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", () => resolve()));
      const busyPort = (busy.server.address() as { port: number }).port;
      try {
        const variants: Record<string, Record<string, unknown>> = {
          "closed port": { port: await freePort(), starttls: "disabled" },
          "no greeting": { port: silentPort, starttls: "disabled" },
          "4xx reply": { port: busyPort, starttls: "disabled" },
          "STARTTLS required, not offered": { port: smtp.port, starttls: "required" },
        };
        const outcomes: string[] = [];
        for (const [label, settings] of Object.entries(variants)) {
          const client = failingClient(`g45-${outcomes.length}`, settings);
          const startedAt = performance.now();
          const result = await runBinary(["client", "run", "--config-dir", client.configDir]);
          const elapsedMs = Math.round(performance.now() - startedAt);
          expect(`${label}: exit ${result.exitCode}`).toBe(`${label}: exit 3`);
          expect(result.stderr).toMatch(/Cannot send mail/);
          expect(elapsedMs).toBeLessThan(20_000);
          outcomes.push(`${label}: run ${elapsedMs} ms, exit 3, failure logged`);
        }
        results.figure("mail.smtp-faults-bounded", `${outcomes.length}/4`, outcomes.join("; "));
      } finally {
        for (const socket of silentSockets) socket.destroy();
        silent.close();
        await new Promise<void>((resolve) => busy.close(() => resolve()));
      }
    },
  );
});
