// Mail to the admin, the one importer of nodemailer: SMTP directly, or a local sendmail program fed
// through lib/exec.ts (so it gets a timeout and its argv is logged). Sending never throws: a mail
// that cannot go out is logged and returned, and never changes the result of the backup it reports.

import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import nodemailer from "nodemailer";
import { BackupError, errorMessage } from "../lib/errors.ts";
import { run } from "../lib/exec.ts";
import { type Logger, log, redact, registerSecret } from "../lib/log.ts";
import { escapeControlCharacters } from "./format.ts";

/** How an SMTP connection is secured: STARTTLS required, used when offered, or never (true = required, false = disabled). */
export type StartTlsMode = "required" | "opportunistic" | "disabled";

/** SMTP settings (config: mail.smtp). */
export interface SmtpSettings {
  host?: string;
  /** Default 465 with secure, else 587. */
  port?: number;
  /** TLS from the first byte (SMTPS). */
  secure?: boolean;
  /** Default "required". */
  starttls?: StartTlsMode | boolean;
  username?: string;
  /** File holding the password; it must not be readable by group or others. */
  passwordFile?: string;
  /** Bound on connecting, the greeting and each socket read (default 30); the whole send gets four times this. */
  timeoutSeconds?: number;
}

/** Mail transport settings (config: mail). */
export interface MailSettings {
  transport: "sendmail" | "smtp";
  /** Default /usr/sbin/sendmail. */
  sendmailPath?: string;
  /** Default backupctl@<hostname>. */
  from?: string;
  /** Put before every subject with one space (config: email_subject_prefix); callers pass the bare subject. */
  subjectPrefix?: string;
  smtp?: SmtpSettings;
}

/** A plain-text mail. */
export interface MailMessage {
  to: string | readonly string[];
  subject: string;
  /** May hold text from clients (file names, remote errors): control characters are escaped, secrets redacted. */
  text: string;
}

/** Options of sendMail. */
export interface SendMailOptions {
  logger?: Logger;
  /** Log what would be sent and send nothing. */
  isDryRun?: boolean;
}

/** What became of a mail. */
export interface MailResult {
  sent: boolean;
  /** Why it was not sent (absent when sent, and in dry-run). */
  error?: string;
}

const defaultSendmailPath = "/usr/sbin/sendmail";
const defaultTimeoutSeconds = 30;
const sendmailTimeoutMs = 60_000;
const maxSubjectLength = 200;
// a plain addr-spec, as config accepts it; no quotes, comments, brackets or separators that would let
// one string become two recipients or a header, and no leading "-" that sendmail could read as an option
const addressExpression =
  /^[^\s@<>"',;:()[\]\\\p{Cc}-][^\s@<>"',;:()[\]\\\p{Cc}]*@[^\s@<>"',;:()[\]\\\p{Cc}]+$/u;

/** Sends a plain-text mail and reports the outcome; never throws. A failure is logged as an error and returned. */
export async function sendMail(
  message: MailMessage,
  settings: MailSettings,
  options: SendMailOptions = {},
): Promise<MailResult> {
  const logger = options.logger ?? log;
  const recipients = (typeof message.to === "string" ? [message.to] : [...message.to]).map(
    sanitizeHeaderValue,
  );
  const subject = formatSubject(message.subject, settings.subjectPrefix);
  const describe = `mail "${subject}" to ${recipients.join(", ") || "nobody"}`;
  try {
    const from = checkedAddress(sanitizeHeaderValue(settings.from ?? `backupctl@${hostname()}`), "sender");
    const to = usableRecipients(recipients, logger);
    if (options.isDryRun) {
      logger.info(
        `would send ${describe} via ${describeTransport(settings)} (${message.text.length} characters)`,
      );
      return { sent: false };
    }
    const smtp = settings.smtp ?? {};
    const isSmtp = settings.transport === "smtp";
    // read (and register) the SMTP password before the body is redacted, so the body cannot carry it
    const password = isSmtp && smtp.username !== undefined ? readSmtpPassword(smtp.passwordFile) : undefined;
    const mail = { from, to, subject: redact(subject), text: escapeControlCharacters(redact(message.text)) };
    if (isSmtp) await sendThroughSmtp(mail, smtp, password);
    else await sendThroughSendmail(mail, settings.sendmailPath ?? defaultSendmailPath, logger);
    logger.info(`sent ${describe}`);
    return { sent: true };
  } catch (error) {
    const reason = redact(errorMessage(error));
    logger.error(`Cannot send ${describe} via ${describeTransport(settings)}: ${reason}`);
    return { sent: false, error: reason };
  }
}

/** Returns a header value on one line: CR, LF and other control characters become spaces, runs of whitespace one space. */
export function sanitizeHeaderValue(value: string): string {
  return value
    .replace(/[\p{Cc}\u2028\u2029]/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
}

/** Returns why text is not a plain mail address (local@domain), or undefined when it is one. */
export function mailAddressProblem(address: string): string | undefined {
  if (address === "") return "the address is empty";
  if (!addressExpression.test(address))
    return `"${address}" is not a plain mail address such as admin@example.org`;
  return undefined;
}

/** Returns the subject with its prefix, on one line and at most 200 characters. */
function formatSubject(subject: string, prefix: string | undefined): string {
  const cleanPrefix = sanitizeHeaderValue(prefix ?? "");
  const line = sanitizeHeaderValue(cleanPrefix ? `${cleanPrefix} ${subject}` : subject);
  return line.length > maxSubjectLength ? `${line.slice(0, maxSubjectLength - 1)}…` : line;
}

/** Returns address unless it is not a plain mail address. Throws BackupError naming its role otherwise. */
function checkedAddress(address: string, role: string): string {
  const problem = mailAddressProblem(address);
  if (problem) throw new BackupError(`the ${role} address is not usable: ${problem}`);
  return address;
}

/** Returns the plain addresses among recipients, logging each one dropped. Throws BackupError when none is left. */
function usableRecipients(recipients: readonly string[], logger: Logger): string[] {
  const usable: string[] = [];
  for (const recipient of recipients) {
    const problem = mailAddressProblem(recipient);
    if (problem) logger.error(`Cannot send mail to ${JSON.stringify(recipient)}: ${problem}`);
    else if (!usable.includes(recipient)) usable.push(recipient);
  }
  if (usable.length === 0) throw new BackupError("no usable recipient address");
  return usable;
}

/** A mail ready to hand to a transport. */
interface PreparedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
}

/** Returns nodemailer's message fields: the envelope is explicit, so RCPT TO holds only these addresses. */
function nodemailerMessage(mail: PreparedMail) {
  return {
    from: mail.from,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    date: new Date(),
    envelope: { from: mail.from, to: mail.to },
    // RFC 3834: keeps vacation responders from answering a robot
    headers: { "Auto-Submitted": "auto-generated" },
  };
}

/** Sends through an SMTP server with bounded timeouts, authenticating when a password is given. Throws when the server refuses or time runs out. */
async function sendThroughSmtp(
  mail: PreparedMail,
  smtp: SmtpSettings,
  password: string | undefined,
): Promise<void> {
  if (!smtp.host) throw new BackupError("mail.smtp.host is not set");
  const timeoutMs = (smtp.timeoutSeconds ?? defaultTimeoutSeconds) * 1000;
  const starttls = startTlsMode(smtp.starttls);
  const auth =
    smtp.username === undefined || password === undefined
      ? undefined
      : { user: smtp.username, pass: password };
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port ?? (smtp.secure ? 465 : 587),
    secure: smtp.secure ?? false,
    requireTLS: !smtp.secure && starttls === "required",
    ignoreTLS: !smtp.secure && starttls === "disabled",
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
    logger: false,
    ...(auth ? { auth } : {}),
  });
  // the per-phase timeouts bound silence; this bounds a server that answers one byte at a time
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    deadline = setTimeout(
      () => reject(new BackupError(`SMTP server did not finish within ${(timeoutMs * 4) / 1000}s`)),
      timeoutMs * 4,
    );
  });
  try {
    await Promise.race([transport.sendMail(nodemailerMessage(mail)), expired]);
  } finally {
    clearTimeout(deadline);
    transport.close();
  }
}

/** Sends through a local sendmail program: the message on stdin, the recipients after "--". Throws when it cannot start, fails or times out. */
async function sendThroughSendmail(mail: PreparedMail, sendmailPath: string, logger: Logger): Promise<void> {
  // nodemailer only composes here; lib/exec.ts runs sendmail, with a timeout and its argv in the log
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  const composed = await composer.sendMail(nodemailerMessage(mail));
  const raw = composed.message;
  if (!(raw instanceof Buffer)) throw new BackupError("nodemailer did not return the composed message");
  // -i: a line with a single dot does not end the message; -f: the envelope sender
  await run([sendmailPath, "-i", "-f", mail.from, "--", ...mail.to], {
    input: new Uint8Array(raw),
    stdout: "log",
    timeoutMs: sendmailTimeoutMs,
    logger,
    description: "send mail",
  });
}

/** Returns the STARTTLS mode of a setting that may be a boolean. */
function startTlsMode(setting: StartTlsMode | boolean | undefined): StartTlsMode {
  if (setting === true || setting === undefined) return "required";
  if (setting === false) return "disabled";
  return setting;
}

/** Returns the SMTP password from its file, registered as a secret. Throws BackupError when the file is missing, not a regular file, not ours, or open to group or others. */
function readSmtpPassword(passwordFile: string | undefined): string {
  if (passwordFile === undefined)
    throw new BackupError("mail.smtp.username is set but mail.smtp.password_file is not");
  let fd: number;
  try {
    // O_NOFOLLOW: the checks below must be about the file itself, not what a symlink points to
    fd = openSync(passwordFile, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw new BackupError(`Cannot read "${passwordFile}": ${errorMessage(error)}`, { cause: error });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new BackupError(`Cannot read "${passwordFile}": not a regular file`);
    const mode = stat.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new BackupError(
        `Cannot read "${passwordFile}": mode 0${mode.toString(8).padStart(3, "0")} allows other users to read it (run chmod 600 ${passwordFile})`,
      );
    }
    const uid = process.getuid?.();
    if (stat.uid !== 0 && stat.uid !== uid) {
      throw new BackupError(
        `Cannot read "${passwordFile}": owned by uid ${stat.uid}, not by root or this user`,
      );
    }
    const password = readFileSync(fd, "utf8").replace(/\r?\n$/, "");
    if (password === "") throw new BackupError(`Cannot read "${passwordFile}": the file is empty`);
    registerSecret(password);
    return password;
  } finally {
    closeSync(fd);
  }
}

/** Returns the transport for messages: "sendmail (/usr/sbin/sendmail)" or "SMTP host:port". */
function describeTransport(settings: MailSettings): string {
  if (settings.transport === "sendmail") return `sendmail (${settings.sendmailPath ?? defaultSendmailPath})`;
  const smtp = settings.smtp ?? {};
  return `SMTP ${smtp.host ?? "(no host)"}:${smtp.port ?? (smtp.secure ? 465 : 587)}`;
}
