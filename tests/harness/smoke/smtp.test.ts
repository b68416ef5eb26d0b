// The SMTP capture records what nodemailer delivers, decoded, and enforces its credentials.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTransport } from "nodemailer";
import { type SmtpHandle, startSmtp } from "../smtp.ts";

describe("smtp harness", () => {
  let smtp: SmtpHandle;
  beforeAll(async () => {
    smtp = await startSmtp({ auth: { user: "mailer", password: "s3cret" } });
  });
  afterAll(async () => await smtp?.stop());

  /** A nodemailer SMTP transport to the capture with the given password. */
  function transportWith(password: string) {
    return createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: false,
      ignoreTLS: true,
      auth: { user: "mailer", pass: password },
      connectionTimeout: 5_000,
    });
  }

  test("records a mail delivered through nodemailer, envelope and content decoded", async () => {
    const longLine = `${"Prüfsumme stimmt nicht überein; ".repeat(4)}Ende`;
    await transportWith("s3cret").sendMail({
      from: "backupctl <backup@web01.example>",
      to: "admin@example.org",
      cc: "oncall@example.org",
      subject: "[backup] web01: Sicherung fehlgeschlagen – größe ✓",
      text: `Hallo,\n${longLine}\n`,
      attachments: [{ filename: "log-tail.txt", content: "line 1\nline 2\n" }],
    });
    const [mail] = await smtp.waitForMessages(1);
    expect(mail?.from).toBe("backup@web01.example");
    expect(mail?.to).toEqual(["admin@example.org", "oncall@example.org"]);
    expect(mail?.authenticatedUser).toBe("mailer");
    expect(mail?.subject).toBe("[backup] web01: Sicherung fehlgeschlagen – größe ✓");
    expect(mail?.headers.get("from")).toBe("backupctl <backup@web01.example>");
    expect(mail?.text.replace(/\r\n/g, "\n")).toBe(`Hallo,\n${longLine}\n`);
    expect(
      mail?.attachments.map((attachment) => [attachment.filename, attachment.content.toString()]),
    ).toEqual([["log-tail.txt", "line 1\nline 2\n"]]);
    expect(mail?.raw).toContain("Subject: ");
  });

  test("refuses a client with the wrong password", async () => {
    await expect(transportWith("wrong").sendMail({ from: "a@b.c", to: "d@e.f", text: "x" })).rejects.toThrow(
      /Invalid username or password/,
    );
    expect(smtp.messages.length).toBe(1);
  });

  test("waiting for more mails than arrive fails with the count received", async () => {
    await expect(smtp.waitForMessages(2, 200)).rejects.toThrow(/received 1/);
  });
});
