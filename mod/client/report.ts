// The client's failure mail: when a run failed or some services did, the admin gets one mail with
// each service's result and the log tail. A mail that cannot be sent is logged and changes nothing.

import type { ClientConfig } from "../config/client.ts";
import { errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { formatLogTail, formatSection, formatTable } from "../notify/format.ts";
import { sendMail } from "../notify/mail.ts";
import { mailSettingsFrom } from "../notify/settings.ts";
import type { ArchiveResult } from "./archive.ts";
import type { ServiceOutcome } from "./service-run.ts";

/** Builds the text of the failure mail. */
export function clientReportText(options: {
  hostname: string;
  status: "failed" | "partial";
  outcomes: readonly ServiceOutcome[];
  error?: unknown;
  archive?: ArchiveResult;
}): string {
  const lines = [
    `Host: ${options.hostname}`,
    `Result: ${options.status === "failed" ? "FAILED: no archive was written" : "PARTIAL: some services failed"}`,
  ];
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

/** Mails the admin about a failed or partial run; never throws. */
export async function mailClientReport(options: {
  config: ClientConfig;
  status: "failed" | "partial";
  outcomes: readonly ServiceOutcome[];
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
  const subject =
    options.status === "failed"
      ? `${config.hostname} - Backup FAILED`
      : `${config.hostname} - Backup PARTIAL (${failed} of ${options.outcomes.length} services failed)`;
  await sendMail(
    { to: config.admin_email, subject, text: clientReportText({ ...options, hostname: config.hostname }) },
    mailSettingsFrom(config.mail, config.email_subject_prefix),
    { logger, isDryRun: options.isDryRun },
  );
}
