// The server's mails (DESIGN §7.8): one per failed or skipped host, to that host's admin_email (else
// the global one), and one summary per run with a row per host. Sending never changes the result.

import type { ServerConfig } from "../config/server.ts";
import type { Logger } from "../lib/log.ts";
import { formatBytes } from "../lib/size.ts";
import { formatAge } from "../lib/time.ts";
import { formatLogTail, formatSection, formatTable } from "../notify/format.ts";
import { sendMail } from "../notify/mail.ts";
import { mailSettingsFrom } from "../notify/settings.ts";
import type { HostPullResult } from "./host-pull.ts";
import type { FailureStreak } from "./state.ts";
import { failedPullsText } from "./status-health.ts";

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

/** Returns a time on record with its age: "2026-11-25T02:00:03.000Z (2d 3h ago)". */
function formatRecordedTime(iso: string, now: Date): string {
  return `${iso} (${formatAge(now.getTime() - Date.parse(iso))} ago)`;
}

/** Returns a run of failures in words: "since 2026-11-25T02:00:03.000Z (2d ago), 3 pulls in a row". */
export function formatStreak(streak: FailureStreak, now: Date): string {
  const count = streak.attempts === undefined ? "" : `, ${failedPullsText(streak.attempts)}`;
  return `since ${formatRecordedTime(streak.since, now)}${count}`;
}

/** Returns the lines a failure mail adds from the host's record: how long it has failed, and its last snapshot. */
function recordLines(result: HostPullResult, now: Date): string[] {
  const { record } = result;
  if (!record) return [];
  return [
    // a first failure began with this pull: nothing to add
    ...(record.failing && record.failing.attempts !== 1
      ? [`Failing ${formatStreak(record.failing, now)}`]
      : []),
    record.previousSuccessAt
      ? `Last snapshot stored: ${formatRecordedTime(record.previousSuccessAt, now)}`
      : "Last snapshot stored: none on record",
  ];
}

/** Returns a host's recovery mail: it stored a snapshot (or had nothing new) after failed pulls. */
export function recoveryMail(
  result: HostPullResult,
  recovered: FailureStreak,
  context: { server: string; now: Date },
): { subject: string; text: string } {
  const { attempt } = result;
  const text = [
    `Host: ${result.host}`,
    `Result: ${attempt.status}`,
    `Failed ${formatStreak(recovered, context.now)}, until this pull`,
    ...(attempt.archive ? [`Archive: ${attempt.archive}`] : []),
    ...(attempt.snapshot_id ? [`Snapshot: ${attempt.snapshot_id}`] : []),
    ...attempt.warnings.map((warning) => `Warning: ${warning}`),
  ].join("\n");
  return { subject: `${result.host} - Backup RECOVERED (server ${context.server})`, text };
}

/** Sends the failure mails of failed, skipped or alerting hosts, the recovery mails of hosts that failed before, and one summary mail. */
export async function mailPullReport(options: {
  config: ServerConfig;
  results: readonly HostPullResult[];
  isDryRun: boolean;
  logger: Logger;
}): Promise<void> {
  const { config, results, logger } = options;
  const settings = mailSettingsFrom(config.global.mail, config.global.email_subject_prefix);
  const server = config.global.hostname;
  const now = new Date();
  for (const result of results) {
    const { attempt } = result;
    const host = config.hosts.find((candidate) => candidate.hostname === result.host);
    const recipients = host?.admin_email ?? config.global.admin_email ?? [];
    if (recipients.length === 0) continue;
    const recovered = result.record?.recovered;
    if (recovered) {
      const mail = recoveryMail(result, recovered, { server, now });
      await sendMail({ to: recipients, ...mail }, settings, { logger, isDryRun: options.isDryRun });
    }
    const isProblem = attempt.status === "failed" || attempt.status === "locked" || result.alerts.length > 0;
    if (!isProblem) continue;
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
      ...recordLines(result, now),
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
  const failingLines = results.flatMap(({ host, record }) =>
    record?.failing ? [`${host}: failing ${formatStreak(record.failing, now)}`] : [],
  );
  const recoveredLines = results.flatMap(({ host, record }) =>
    record?.recovered ? [`${host}: failed ${formatStreak(record.recovered, now)}, until this pull`] : [],
  );
  const headline =
    (failed.length === 0
      ? `all ${results.length} hosts ok`
      : `${failed.length} of ${results.length} hosts failed or skipped`) +
    (recoveredLines.length > 0 ? `, ${recoveredLines.length} recovered` : "");
  const text = [
    `Server: ${server}`,
    `Result: ${headline}`,
    formatSection("Hosts", summaryTable(results, now)),
    ...(failingLines.length > 0 ? [formatSection("Failing", failingLines.join("\n"))] : []),
    ...(recoveredLines.length > 0 ? [formatSection("Recovered", recoveredLines.join("\n"))] : []),
  ].join("\n\n");
  await sendMail({ to: summaryRecipients, subject: `Backup summary: ${headline}`, text }, settings, {
    logger,
    isDryRun: options.isDryRun,
  });
}
