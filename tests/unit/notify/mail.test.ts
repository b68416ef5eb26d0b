// sendMail against the harness SMTP capture (a real smtp-server), a silent TCP listener and a closed
// port; the sendmail transport against a fake sendmail script, since no MTA is installed here: the
// fake records its argv and stdin, which is all the sendmail contract is.

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLogLevel, type LogLevel, setLogLevel, setLogSink } from "../../../mod/lib/log.ts";
import {
  type MailSettings,
  mailAddressProblem,
  sanitizeHeaderValue,
  sendMail,
} from "../../../mod/notify/mail.ts";
import { startSmtp } from "../../harness/smtp.ts";
import { freePort } from "../../harness/tmp.ts";

const root = mkdtempSync(join(tmpdir(), "backupctl-mail-"));
const logLines: string[] = [];
let previousLevel: LogLevel;

beforeAll(() => {
  chmodSync(root, 0o700);
  previousLevel = getLogLevel();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => {
  logLines.length = 0;
  setLogLevel("debug");
  setLogSink({ write: (line) => logLines.push(line) }, { isJournal: false });
});
afterEach(() => {
  setLogSink(undefined);
  setLogLevel(previousLevel);
});

/** Returns the header block of a raw message, one unfolded header per entry. */
function headerLines(raw: string): string[] {
  const block = raw.split(/\r?\n\r?\n/, 1)[0] ?? "";
  return block.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/);
}

/** Returns SMTP settings for the capture on port, without TLS (the capture offers none). */
function smtpSettings(port: number, extra: Partial<MailSettings["smtp"]> = {}): MailSettings {
  return {
    transport: "smtp",
    from: "backupctl@backup.example.org",
    smtp: { host: "127.0.0.1", port, starttls: "disabled", timeoutSeconds: 5, ...extra },
  };
}

describe("sendMail over SMTP", () => {
  test("delivers a mail with From, Date, the prefixed Subject and the envelope of the configured addresses", async () => {
    const capture = await startSmtp();
    try {
      const before = Date.now() - 1000;
      const result = await sendMail(
        {
          to: ["admin@example.org", "ops@example.org"],
          subject: "server pull: 1 host failed",
          text: "web01 failed\n",
        },
        { ...smtpSettings(capture.port), subjectPrefix: "[backup]" },
      );
      expect(result).toEqual({ sent: true });
      const [mail] = await capture.waitForMessages(1);
      expect(mail?.from).toBe("backupctl@backup.example.org");
      expect(mail?.to).toEqual(["admin@example.org", "ops@example.org"]);
      expect(mail?.subject).toBe("[backup] server pull: 1 host failed");
      expect(mail?.headers.get("from")).toBe("backupctl@backup.example.org");
      expect(mail?.headers.get("auto-submitted")).toBe("auto-generated");
      const date = Date.parse(mail?.headers.get("date") ?? "");
      expect(date).toBeGreaterThanOrEqual(before - 1000);
      expect(date).toBeLessThanOrEqual(Date.now() + 1000);
      expect(mail?.text.replaceAll("\r\n", "\n")).toBe("web01 failed\n");
      expect(logLines.some((line) => line.includes("INFO") && line.includes("sent mail"))).toBe(true);
    } finally {
      await capture.stop();
    }
  });

  test("CR/LF in the subject and in recipients adds no header and no recipient", async () => {
    const capture = await startSmtp();
    try {
      const result = await sendMail(
        {
          to: [
            "admin@example.org",
            "admin@example.org\r\nBcc: evil@attacker.example",
            '"a@b x"@internal',
            "-oQ/tmp/x@example.org",
          ],
          subject: "Backup of web01\r\nBcc: evil@attacker.example\r\nX-Injected: yes",
          text: "body\r\n.\r\nBcc: still@body.example\n",
        },
        smtpSettings(capture.port),
      );
      expect(result.sent).toBe(true);
      const [mail] = await capture.waitForMessages(1);
      expect(mail?.to).toEqual(["admin@example.org"]);
      const headers = headerLines(mail?.raw ?? "");
      expect(headers.filter((line) => /^(bcc|x-injected):/i.test(line))).toEqual([]);
      expect(headers.filter((line) => /^subject:/i.test(line))).toHaveLength(1);
      expect(mail?.subject).toBe("Backup of web01 Bcc: evil@attacker.example X-Injected: yes");
      expect(mail?.headers.get("to")).toBe("admin@example.org");
      // the dropped recipients are reported, by the escaped value
      expect(
        logLines.filter((line) => line.includes("ERROR") && line.includes("Cannot send mail to")),
      ).toHaveLength(3);
    } finally {
      await capture.stop();
    }
  });

  test("terminal control characters from a client are escaped in the body, newlines kept", async () => {
    const capture = await startSmtp();
    try {
      await sendMail(
        {
          to: "admin@example.org",
          subject: "hostile names",
          text: "refused entry: \u001b]0;pwned\u0007evil\u001b[2J\nnext line\n",
        },
        smtpSettings(capture.port),
      );
      const [mail] = await capture.waitForMessages(1);
      expect(mail?.text.replaceAll("\r\n", "\n")).toBe(
        "refused entry: \\x1b]0;pwned\\x07evil\\x1b[2J\nnext line\n",
      );
    } finally {
      await capture.stop();
    }
  });

  test("authenticates with the password file, and the password appears in no log line, mail or result", async () => {
    const password = `CANARY-${randomUUID()}`;
    const capture = await startSmtp({ auth: { user: "backupctl", password } });
    const passwordFile = join(root, "smtp-password");
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    try {
      const result = await sendMail(
        {
          to: "admin@example.org",
          subject: `with auth ${password}`,
          text: `the log said: password=${password}\n`,
        },
        smtpSettings(capture.port, { username: "backupctl", passwordFile }),
      );
      expect(result).toEqual({ sent: true });
      const [mail] = await capture.waitForMessages(1);
      expect(mail?.authenticatedUser).toBe("backupctl");
      expect(mail?.subject).toBe("with auth ***");
      expect(mail?.raw).not.toContain(password);
      expect(mail?.text.replaceAll("\r\n", "\n")).toBe("the log said: password=***\n");
      expect(logLines.length).toBeGreaterThan(0);
      expect(logLines.filter((line) => line.includes(password))).toEqual([]);

      const wrong = join(root, "wrong-password");
      writeFileSync(wrong, "not-it\n", { mode: 0o600 });
      const refused = await sendMail(
        { to: "admin@example.org", subject: "wrong auth", text: "x" },
        smtpSettings(capture.port, { username: "backupctl", passwordFile: wrong }),
      );
      expect(refused.sent).toBe(false);
      expect(refused.error).toMatch(/auth|login|535/i);
      expect(logLines.filter((line) => line.includes(password))).toEqual([]);
    } finally {
      await capture.stop();
    }
  });

  test("a password file others can read is refused before connecting", async () => {
    const capture = await startSmtp({ auth: { user: "backupctl", password: "whatever-password" } });
    const passwordFile = join(root, "loose-password");
    writeFileSync(passwordFile, "whatever-password\n", { mode: 0o644 });
    chmodSync(passwordFile, 0o644);
    try {
      const result = await sendMail(
        { to: "admin@example.org", subject: "loose", text: "x" },
        smtpSettings(capture.port, { username: "backupctl", passwordFile }),
      );
      expect(result.sent).toBe(false);
      expect(result.error).toContain(`"${passwordFile}": mode 0644`);
      expect(result.error).toContain("chmod 600");
      await Bun.sleep(100);
      expect(capture.messages).toEqual([]);
    } finally {
      await capture.stop();
    }
  });

  test("STARTTLS required but not offered: not sent, and said why", async () => {
    const capture = await startSmtp();
    try {
      const result = await sendMail(
        { to: "admin@example.org", subject: "tls", text: "x" },
        smtpSettings(capture.port, { starttls: "required" }),
      );
      expect(result.sent).toBe(false);
      expect(result.error).toMatch(/STARTTLS/i);
      expect(capture.messages).toEqual([]);
    } finally {
      await capture.stop();
    }
  });

  test("a closed port fails at once with an error log", async () => {
    const port = await freePort();
    const startedAt = Date.now();
    const result = await sendMail(
      { to: "admin@example.org", subject: "closed", text: "x" },
      smtpSettings(port),
    );
    expect(result.sent).toBe(false);
    expect(result.error).toMatch(/ECONNREFUSED|connect/i);
    expect(Date.now() - startedAt).toBeLessThan(5000);
    expect(logLines.some((line) => line.includes("ERROR") && line.includes(`SMTP 127.0.0.1:${port}`))).toBe(
      true,
    );
  });

  test("a server that never greets is given up after the timeout", async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    const port = typeof address === "object" && address ? address.port : 0;
    try {
      const startedAt = Date.now();
      const result = await sendMail(
        { to: "admin@example.org", subject: "silent", text: "x" },
        smtpSettings(port, { timeoutSeconds: 1 }),
      );
      const elapsed = Date.now() - startedAt;
      expect(result.sent).toBe(false);
      expect(result.error).toMatch(/greeting|timeout/i);
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(4500);
      expect(sockets.length).toBe(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  test("dry-run sends nothing and logs what it would send", async () => {
    const capture = await startSmtp();
    try {
      const result = await sendMail(
        { to: "admin@example.org", subject: "dry", text: "x" },
        smtpSettings(capture.port),
        { isDryRun: true },
      );
      expect(result).toEqual({ sent: false });
      await Bun.sleep(200);
      expect(capture.messages).toEqual([]);
      expect(logLines.some((line) => line.includes('would send mail "dry" to admin@example.org'))).toBe(true);
    } finally {
      await capture.stop();
    }
  });

  test("settings it cannot use give an unsent result, never an exception", async () => {
    const message = { to: "admin@example.org", subject: "s", text: "x" };
    const cases: [MailSettings, string][] = [
      [{ transport: "smtp", from: "a@example.org" }, "smtp.host"],
      [{ transport: "smtp", from: "not an address", smtp: { host: "127.0.0.1" } }, "sender"],
      [
        { transport: "smtp", from: "a@example.org", smtp: { host: "127.0.0.1", username: "u" } },
        "password_file",
      ],
    ];
    for (const [settings, reason] of cases) {
      const result = await sendMail(message, settings);
      expect(result.sent).toBe(false);
      expect(result.error).toContain(reason);
    }
    const nobody = await sendMail({ to: ["bad address"], subject: "s", text: "x" }, smtpSettings(1));
    expect(nobody).toEqual({ sent: false, error: "no usable recipient address" });
  });
});

describe("sendMail through sendmail", () => {
  /** Writes a fake sendmail that records argv (NUL-separated) and stdin, then exits with exitCode. */
  function fakeSendmail(name: string, exitCode = 0): { path: string; argvFile: string; stdinFile: string } {
    const path = join(root, name);
    const argvFile = join(root, `${name}.argv`);
    const stdinFile = join(root, `${name}.stdin`);
    writeFileSync(
      path,
      `#!/bin/sh\nprintf '%s\\0' "$@" > '${argvFile}'\ncat > '${stdinFile}'\nexit ${exitCode}\n`,
      { mode: 0o700 },
    );
    return { path, argvFile, stdinFile };
  }

  test("passes sender and recipients as separate arguments after -- and the message only on stdin", async () => {
    const fake = fakeSendmail("sendmail-ok");
    const body = `archive web01-20261126_030405.tar.gz failed\nunique-${randomUUID()}\n`;
    const result = await sendMail(
      { to: ["admin@example.org", "ops@example.org"], subject: "client run: partial", text: body },
      {
        transport: "sendmail",
        sendmailPath: fake.path,
        from: "backupctl@web01.example.org",
        subjectPrefix: "[web01]",
      },
    );
    expect(result).toEqual({ sent: true });
    const argv = readFileSync(fake.argvFile, "utf8").split("\0").slice(0, -1);
    expect(argv).toEqual([
      "-i",
      "-f",
      "backupctl@web01.example.org",
      "--",
      "admin@example.org",
      "ops@example.org",
    ]);
    expect(argv.some((argument) => argument.includes("unique-") || argument.includes("failed"))).toBe(false);
    const stdin = readFileSync(fake.stdinFile, "utf8");
    const headers = headerLines(stdin);
    expect(headers).toContain("Subject: [web01] client run: partial");
    expect(headers).toContain("From: backupctl@web01.example.org");
    expect(headers.some((line) => line.startsWith("Date: "))).toBe(true);
    expect(stdin).toContain(body.trim());
    expect(stdin).not.toContain("\r\n");
  });

  test("a recipient that would read as an option never reaches sendmail", async () => {
    const fake = fakeSendmail("sendmail-options");
    const result = await sendMail(
      { to: ["-oQ/tmp/evil@example.org", "-X/tmp/log"], subject: "s", text: "x" },
      { transport: "sendmail", sendmailPath: fake.path, from: "backupctl@example.org" },
    );
    expect(result.sent).toBe(false);
    expect(existsSync(fake.argvFile)).toBe(false);
  });

  test("a failing sendmail is an unsent result with its exit code, logged as an error", async () => {
    const fake = fakeSendmail("sendmail-fails", 75);
    const result = await sendMail(
      { to: "admin@example.org", subject: "s", text: "x" },
      { transport: "sendmail", sendmailPath: fake.path, from: "backupctl@example.org" },
    );
    expect(result.sent).toBe(false);
    expect(result.error).toContain("exit code 75");
    expect(logLines.some((line) => line.includes("ERROR") && line.includes("Cannot send mail"))).toBe(true);
  });

  test("a missing sendmail program is an unsent result", async () => {
    const result = await sendMail(
      { to: "admin@example.org", subject: "s", text: "x" },
      { transport: "sendmail", sendmailPath: join(root, "no-sendmail"), from: "backupctl@example.org" },
    );
    expect(result.sent).toBe(false);
    expect(result.error).toContain("no-sendmail");
  });

  test("dry-run does not start sendmail", async () => {
    const fake = fakeSendmail("sendmail-dry");
    const result = await sendMail(
      { to: "admin@example.org", subject: "s", text: "x" },
      { transport: "sendmail", sendmailPath: fake.path, from: "backupctl@example.org" },
      { isDryRun: true },
    );
    expect(result).toEqual({ sent: false });
    expect(existsSync(fake.argvFile)).toBe(false);
  });
});

describe("sanitizeHeaderValue and mailAddressProblem", () => {
  const headerCases: [string, string][] = [
    ["Backup ok", "Backup ok"],
    ["a\r\nBcc: x@y", "a Bcc: x@y"],
    ["tab\there\u0000nul", "tab here nul"],
    ["  padded\u2028line  ", "padded line"],
  ];
  for (const [input, expected] of headerCases) {
    test(`header ${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () =>
      expect(sanitizeHeaderValue(input)).toBe(expected));
  }

  const addressCases: [string, boolean][] = [
    ["admin@example.org", true],
    ["first.last+backup@mail.example.org", true],
    ["root", false],
    ['"a@b x"@internal', false],
    ["a@b@c", false],
    ["Admin <admin@example.org>", false],
    ["a@example.org,b@example.org", false],
    ["-f@example.org", false],
    ["a\u0000@example.org", false],
    ["", false],
  ];
  for (const [address, isUsable] of addressCases) {
    test(`${JSON.stringify(address)} is ${isUsable ? "" : "not "}a usable address`, () =>
      expect(mailAddressProblem(address) === undefined).toBe(isUsable));
  }
});
