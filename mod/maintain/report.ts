// What maintain tells people: a per-repository table on stdout, and one mail per run when a
// repository failed, warned or recovered from failing, naming each failed host, its repository, the
// error and since when it fails (the original's list of failed repositories was always empty).
// Sending never changes the result.

import type { ServerConfig } from "../config/server.ts";
import type { Logger } from "../lib/log.ts";
import { formatDuration } from "../lib/time.ts";
import { formatLogTail, formatSection, formatTable } from "../notify/format.ts";
import { sendMail } from "../notify/mail.ts";
import { mailSettingsFrom } from "../notify/settings.ts";
import type { RepositoryMaintenanceResult } from "./repository.ts";

const forgetWords: Record<string, string> = {
  done: "done",
  "dry-run": "dry run",
  "skipped-stale": "skipped (stale)",
  "skipped-no-snapshots": "no snapshots",
  "not-run": "",
};

/** Builds the per-repository summary table. */
export function maintainTable(results: readonly RepositoryMaintenanceResult[]): string {
  return formatTable(
    [
      { header: "host" },
      { header: "status" },
      { header: "snapshots", align: "right" },
      { header: "forget" },
      { header: "prune" },
      { header: "check" },
      { header: "duration", align: "right" },
      { header: "error or warning", maxWidth: 100 },
    ],
    results.map(({ host, run }) => [
      host,
      run.status,
      run.snapshots_before === undefined
        ? ""
        : run.snapshots_after === undefined || run.forget !== "done"
          ? `${run.snapshots_before}`
          : `${run.snapshots_before} → ${run.snapshots_after}`,
      forgetWords[run.forget] ?? run.forget,
      run.pruned ? "yes" : "no",
      run.checked ? `ok${run.read_data_subset ? ` (${run.read_data_subset})` : ""}` : "no",
      formatDuration(run.duration_ms),
      run.error ? `${run.failed_step}: ${run.error}` : (run.warnings[0] ?? ""),
    ]),
  );
}

/** Returns the recipients of maintenance mail: restic.maintenance.admin_email, else global.admin_email. */
export function maintainRecipients(config: ServerConfig): string[] {
  return config.restic.maintenance.admin_email ?? config.global.admin_email ?? [];
}

/** Sends one mail when any repository failed, warned or recovered from failing; nothing when all went well as before. */
export async function mailMaintainReport(options: {
  config: ServerConfig;
  results: readonly RepositoryMaintenanceResult[];
  isDryRun: boolean;
  logger: Logger;
}): Promise<void> {
  const { config, results, logger } = options;
  const failed = results.filter((result) => result.run.status === "failed");
  const warned = results.filter((result) => result.run.status === "warning");
  const recovered = results.filter((result) => result.recoveredFrom !== undefined);
  if (failed.length === 0 && warned.length === 0 && recovered.length === 0) return;
  const recipients = maintainRecipients(config);
  if (recipients.length === 0) {
    logger.warn("No admin_email is configured: the maintenance problems above are mailed to nobody");
    return;
  }
  const prefix = config.restic.maintenance.email_subject_prefix ?? config.global.email_subject_prefix;
  const settings = mailSettingsFrom(config.global.mail, prefix);
  const server = config.global.hostname;
  const hostsOf = (list: readonly RepositoryMaintenanceResult[]) =>
    list.map((result) => result.host).join(", ");
  const subject =
    failed.length > 0
      ? `${server} - Maintenance FAILED for ${hostsOf(failed)}`
      : warned.length > 0
        ? `${server} - Maintenance WARNING for ${hostsOf(warned)}`
        : `${server} - Maintenance RECOVERED for ${hostsOf(recovered)}`;
  const failures = failed.map(({ host, run, failingSince }) =>
    [
      `Host: ${host}`,
      `Repository: ${run.repository}`,
      `Failed step: ${run.failed_step ?? "?"}`,
      `Error: ${run.error ?? "?"}`,
      ...(failingSince ? [`Failing since: ${failingSince}`] : []),
    ].join("\n"),
  );
  const recoveries = recovered.map(({ host, run, recoveredFrom }) =>
    [`Host: ${host}`, `Repository: ${run.repository}`, `Failed since ${recoveredFrom}, until this run`].join(
      "\n",
    ),
  );
  const warnings = warned.map(({ host, run }) =>
    [
      `Host: ${host}`,
      `Repository: ${run.repository}`,
      ...run.warnings.map((text) => `Warning: ${text}`),
    ].join("\n"),
  );
  const text = [
    `Server: ${server}`,
    `Result: ${failed.length} of ${results.length} repositories failed, ${warned.length} warned${recovered.length > 0 ? `, ${recovered.length} recovered` : ""}`,
    ...(failures.length > 0 ? [formatSection("Failed repositories", failures.join("\n\n"))] : []),
    ...(warnings.length > 0 ? [formatSection("Warnings", warnings.join("\n\n"))] : []),
    ...(recoveries.length > 0 ? [formatSection("Recovered", recoveries.join("\n\n"))] : []),
    formatSection("Repositories", maintainTable(results)),
    formatLogTail(undefined, { limit: 60 }),
  ].join("\n\n");
  await sendMail({ to: recipients, subject, text }, settings, { logger, isDryRun: options.isDryRun });
}
