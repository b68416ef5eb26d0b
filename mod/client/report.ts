// The client's mail to the admin: when a run failed, some services did, or an alert was raised (a
// dump that shrank sharply), one mail with each service's result, the alerts and the log tail. A mail that cannot be sent is logged and changes nothing.

import type { ClientConfig } from "../config/client.ts";
import { errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { formatLogTail, formatSection, formatTable } from "../notify/format.ts";
import { sendMail } from "../notify/mail.ts";
import { mailSettingsFrom } from "../notify/settings.ts";
import type { ArchiveResult } from "./archive.ts";
import type { ServiceOutcome } from "./service-run.ts";

/** Why the mail is sent. */
export type ReportStatus = "failed" | "partial" | "warning";

const resultLines: Record<ReportStatus, string> = {
  failed: "FAILED: no archive was written",
  partial: "PARTIAL: some services failed",
  warning: "ok, with alerts",
};

/** Builds the text of the mail. */
export function clientReportText(options: {
  hostname: string;
  status: ReportStatus;
  outcomes: readonly ServiceOutcome[];
  alerts?: readonly string[];
  error?: unknown;
  archive?: ArchiveResult;
}): string {
  const lines = [`Host: ${options.hostname}`, `Result: ${resultLines[options.status]}`];
  for (const alert of options.alerts ?? []) lines.push(`Alert: ${alert}`);
  if (options.error) lines.push(`Error: ${errorMessage(options.error)}`);
  if (options.archive) lines.push(`Archive: ${options.archive.name} (${options.archive.bytes} bytes)`);
  const table = formatTable(
    [
      { header: "service" },
      { header: "result" },
      { header: "seconds", align: "right" },
      { header: "error", maxWidth: 100 },
    ],
    options.outcomes.map((outcome) => [
      `${outcome.type}/${outcome.name}`,
      outcome.status,
      (outcome.durationMs / 1000).toFixed(1),
      outcome.error ?? "",
    ]),
  );
  return [lines.join("\n"), formatSection("Services", table), formatLogTail()].join("\n\n");
}

/** Mails the admin about a failed or partial run, or one with alerts; never throws. */
export async function mailClientReport(options: {
  config: ClientConfig;
  status: ReportStatus;
  outcomes: readonly ServiceOutcome[];
  alerts?: readonly string[];
  error?: unknown;
  archive?: ArchiveResult;
  isDryRun: boolean;
  logger: Logger;
}): Promise<void> {
  const { config, logger } = options;
  if (!config.admin_email || config.admin_email.length === 0) {
    logger.warn("No admin_email is configured: the failure is only in this log");
    return;
  }
  const failed = options.outcomes.filter((outcome) => outcome.status === "failed").length;
  const subjects: Record<ReportStatus, string> = {
    failed: `${config.hostname} - Backup FAILED`,
    partial: `${config.hostname} - Backup PARTIAL (${failed} of ${options.outcomes.length} services failed)`,
    warning: `${config.hostname} - Backup WARNING (${options.alerts?.length ?? 0} alert(s))`,
  };
  const subject = subjects[options.status];
  await sendMail(
    { to: config.admin_email, subject, text: clientReportText({ ...options, hostname: config.hostname }) },
    mailSettingsFrom(config.mail, config.email_subject_prefix),
    { logger, isDryRun: options.isDryRun },
  );
}
