// The bridge from the config's `mail:` block (snake_case, as users write it) to the mailer's settings.

import type { Mail } from "../config/mail.ts";
import type { MailSettings } from "./mail.ts";

/** Converts the config's `mail:` block into the mailer's settings. */
export function mailSettingsFrom(mail: Mail, subjectPrefix: string | undefined): MailSettings {
  return {
    transport: mail.transport,
    sendmailPath: mail.sendmail_path,
    ...(mail.from ? { from: mail.from } : {}),
    ...(subjectPrefix ? { subjectPrefix } : {}),
    smtp: {
      ...(mail.smtp.host ? { host: mail.smtp.host } : {}),
      ...(mail.smtp.port ? { port: mail.smtp.port } : {}),
      ...(mail.smtp.secure !== undefined ? { secure: mail.smtp.secure } : {}),
      ...(mail.smtp.starttls !== undefined ? { starttls: mail.smtp.starttls } : {}),
      ...(mail.smtp.username ? { username: mail.smtp.username } : {}),
      ...(mail.smtp.password_file ? { passwordFile: mail.smtp.password_file } : {}),
      ...(mail.smtp.timeout_seconds ? { timeoutSeconds: mail.smtp.timeout_seconds } : {}),
    },
  };
}
