// The server's mails (DESIGN §7.8): one per failed or skipped host, to that host's admin_email (else
// the global one), and one summary per run with a row per host. Sending never changes the result.

import type { ServerConfig } from "../config/server.ts";
import type { Logger } from "../lib/log.ts";
import { formatAge } from "../lib/time.ts";
import { formatLogTail, formatSection, formatTable } from "../notify/format.ts";
import { sendMail } from "../notify/mail.ts";
import { mailSettingsFrom } from "../notify/settings.ts";
import type { HostPullResult } from "./host-pull.ts";

/** Returns a byte count for people: 1.5 GiB, 20 MiB, 512 B. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Builds the per-host summary table. */
export function summaryTable(results: readonly HostPullResult[], now: Date): string {
  return formatTable(
    [
      { header: "host" },
      { header: "status" },
      { header: "archive" },
      { header: "age", align: "right" },
      { header: "size", align: "right" },
      { header: "new", align: "right" },
      { header: "changed", align: "right" },
      { header: "added", align: "right" },
      { header: "duration", align: "right" },
      { header: "error", maxWidth: 80 },
    ],
    results.map(({ host, attempt }) => {
      const timestamp = attempt.archive_timestamp;
      const archiveTime = timestamp
        ? Date.UTC(
            Number(timestamp.slice(0, 4)),
            Number(timestamp.slice(4, 6)) - 1,
            Number(timestamp.slice(6, 8)),
            Number(timestamp.slice(9, 11)),
            Number(timestamp.slice(11, 13)),
            Number(timestamp.slice(13, 15)),
          )
        : undefined;
      return [
        host,
        attempt.status,
        attempt.archive ?? "",
        archiveTime !== undefined ? formatAge(now.getTime() - archiveTime) : "",
        formatBytes(attempt.archive_bytes),
        attempt.files_new,
        attempt.files_changed,
        formatBytes(attempt.bytes_added),
        `${(attempt.duration_ms / 1000).toFixed(1)}s`,
        attempt.error ?? attempt.warnings[0] ?? "",
      ];
    }),
  );
}

/** Sends the failure mails of failed, skipped or alerting hosts and one summary mail. */
export async function mailPullReport(options: {
  config: ServerConfig;
  results: readonly HostPullResult[];
  isDryRun: boolean;
  logger: Logger;
}): Promise<void> {
  const { config, results, logger } = options;
  const settings = mailSettingsFrom(config.global.mail, config.global.email_subject_prefix);
  const server = config.global.hostname;
  for (const result of results) {
    const { attempt } = result;
    const isProblem = attempt.status === "failed" || attempt.status === "locked" || result.alerts.length > 0;
    if (!isProblem) continue;
    const host = config.hosts.find((candidate) => candidate.hostname === result.host);
    const recipients = host?.admin_email ?? config.global.admin_email ?? [];
    if (recipients.length === 0) continue;
    const word =
      attempt.status === "failed"
        ? "FAILED"
        : attempt.status === "locked"
          ? "SKIPPED (client locked)"
          : "WARNING";
    const text = [
      `Host: ${result.host}`,
      `Result: ${attempt.status}`,
      ...(attempt.error ? [`Error: ${attempt.error}`] : []),
      ...result.alerts.map((alert) => `Alert: ${alert}`),
      ...attempt.warnings.map((warning) => `Warning: ${warning}`),
      formatLogTail(undefined, { limit: 40 }),
    ].join("\n");
    await sendMail(
      { to: recipients, subject: `${result.host} - Backup ${word} (server ${server})`, text },
      settings,
      {
        logger,
        isDryRun: options.isDryRun,
      },
    );
  }
  const summaryRecipients = config.global.admin_email ?? [];
  if (summaryRecipients.length === 0) return;
  const failed = results.filter(
    (result) => result.attempt.status === "failed" || result.attempt.status === "locked",
  );
  const headline =
    failed.length === 0
      ? `all ${results.length} hosts ok`
      : `${failed.length} of ${results.length} hosts failed or skipped`;
  const text = [
    `Server: ${server}`,
    `Result: ${headline}`,
    formatSection("Hosts", summaryTable(results, new Date())),
  ].join("\n\n");
  await sendMail({ to: summaryRecipients, subject: `Backup summary: ${headline}`, text }, settings, {
    logger,
    isDryRun: options.isDryRun,
  });
}
