// How backupctl sends mail: through a local sendmail-compatible program (msmtp-mta, postfix, …) or
// directly over SMTP. Read from common_config.yml, overridable per client and server.

import { z } from "zod";
import { absolutePath, mailAddress, networkAddress, nonEmptyString, port } from "./fields.ts";

/** SMTP settings, used when `transport: smtp`. */
export const smtpSchema = z
  .strictObject({
    host: networkAddress().optional().describe("SMTP server to send through (required for transport: smtp)"),
    port: port().optional().describe("SMTP port (default: 465 when secure, else 587)"),
    secure: z
      .boolean()
      .default(false)
      .describe("connect with TLS from the start (SMTPS, usually port 465) (default: false)"),
    starttls: z
      .enum(["required", "opportunistic", "disabled"])
      .default("required")
      .describe(
        "STARTTLS on a plain connection: required (refuse to send without TLS), opportunistic, or disabled (default: required)",
      ),
    username: nonEmptyString().optional().describe("user name for SMTP authentication (default: none)"),
    password_file: absolutePath()
      .optional()
      .describe("file holding the SMTP password, mode 0600 (default: none; never write the password here)"),
    timeout_seconds: z
      .int()
      .min(1)
      .default(30)
      .describe("connect, greeting and socket timeout in seconds (default: 30)"),
  })
  .transform((smtp) => ({ ...smtp, port: smtp.port ?? (smtp.secure ? 465 : 587) }));

/** The `mail:` block. */
export const mailSchema = z
  .strictObject({
    transport: z
      .enum(["sendmail", "smtp"])
      .default("sendmail")
      .describe("sendmail (a local MTA program) or smtp (default: sendmail)"),
    sendmail_path: absolutePath()
      .default("/usr/sbin/sendmail")
      .describe("the sendmail-compatible program (default: /usr/sbin/sendmail)"),
    from: mailAddress().optional().describe("sender address (default: backupctl@<hostname>)"),
    smtp: smtpSchema.prefault({}).describe("SMTP settings, used when transport is smtp"),
  })
  .superRefine((mail, context) => {
    if (mail.transport === "smtp" && mail.smtp.host === undefined) {
      context.issues.push({
        code: "custom",
        message: "transport is smtp but smtp.host is not set",
        path: ["smtp", "host"],
        input: mail,
        params: { hint: "set smtp.host, or use transport: sendmail" },
      });
    }
    if (mail.smtp.username !== undefined && mail.smtp.password_file === undefined) {
      context.issues.push({
        code: "custom",
        message: "smtp.username is set but smtp.password_file is not",
        path: ["smtp", "password_file"],
        input: mail,
        params: { hint: "set smtp.password_file to a file holding the password" },
      });
    }
  });

export type MailInput = z.input<typeof mailSchema>;
export type Mail = z.output<typeof mailSchema>;
