// The three faces of `server status`: a table for people, JSON for scripts, and a node_exporter
// textfile (Prometheus text exposition format 0.0.4) for monitoring. Pure functions of the rows.

import { formatBytes } from "../lib/size.ts";
import { formatAge } from "../lib/time.ts";
import { formatTable } from "../notify/format.ts";
import type { PullStatus } from "./state.ts";
import type { HealthVerdict } from "./status-health.ts";

/** One host as `server status` reports it (also the --json shape, hence snake_case like the state files). */
export interface HostStatus {
  host: string;
  repository: string;
  health: HealthVerdict;
  /** The verdict in words: "ok", "failing since …", "stale: …", "never backed up". */
  health_text: string;
  max_age_seconds: number;
  /** The newest backup's archive timestamp (YYYYMMDD_HHMMSS). */
  last_archive_timestamp?: string;
  /** The newest snapshot of the host in its repository. */
  last_snapshot?: { id: string; short_id: string; time: string; age_seconds: number };
  snapshot_count?: number;
  /** Why the repository could not be read; the row still reports the state. */
  repository_error?: string;
  /** The last pull that stored a snapshot. */
  last_ingest?: {
    finished_at: string;
    archive?: string;
    archive_bytes?: number;
    files_new?: number;
    files_changed?: number;
    bytes_added?: number;
    duration_ms: number;
  };
  /** The last pull attempt, whatever its result. */
  last_attempt?: { status: PullStatus; finished_at: string; duration_ms: number; error?: string };
  failing_since?: string;
  /** Failed or skipped pulls in a row while failing (absent when recorded by an older version). */
  failed_attempts?: number;
  /** The last `backupctl maintain` of the repository. */
  last_maintain?: { status: string; finished_at: string; checked: boolean; error?: string };
  /** Why the state file could not be read. */
  state_error?: string;
}

/** The whole report. */
export interface StatusReport {
  generated_at: string;
  /** Every host is "ok" and its repository could be read. */
  healthy: boolean;
  hosts: HostStatus[];
}

/** Every value last_result can take, so each host has one series per value (1 for the current one). */
const pullResults: readonly (PullStatus | "none")[] = [
  "ok",
  "partial",
  "up-to-date",
  "locked",
  "failed",
  "none",
];
const healthVerdicts: readonly HealthVerdict[] = ["ok", "stale", "failing", "never"];

/** Returns whether a host needs no attention: its verdict is ok and its repository could be read. */
export function isHealthy(row: Pick<HostStatus, "health" | "repository_error">): boolean {
  return row.health === "ok" && row.repository_error === undefined;
}

/** Returns the people's table. */
export function statusTable(report: StatusReport): string {
  return formatTable(
    [
      { header: "host" },
      { header: "health", maxWidth: 70 },
      { header: "last archive" },
      { header: "snapshot" },
      { header: "age", align: "right" },
      { header: "count", align: "right" },
      { header: "size", align: "right" },
      { header: "new", align: "right" },
      { header: "changed", align: "right" },
      { header: "added", align: "right" },
      { header: "last result" },
      { header: "error", maxWidth: 90 },
    ],
    report.hosts.map((row) => [
      row.host,
      row.health_text,
      row.last_archive_timestamp ? formatTimestamp(row.last_archive_timestamp) : "",
      row.last_snapshot?.short_id ?? "",
      row.last_snapshot ? formatAge(row.last_snapshot.age_seconds * 1000) : "",
      row.snapshot_count,
      formatBytes(row.last_ingest?.archive_bytes),
      row.last_ingest?.files_new,
      row.last_ingest?.files_changed,
      formatBytes(row.last_ingest?.bytes_added),
      row.last_attempt?.status ?? "",
      row.last_attempt?.error ?? row.repository_error ?? row.state_error ?? "",
    ]),
  );
}

/** Returns the node_exporter textfile: HELP and TYPE before each family, one series per host. */
export function statusTextfile(report: StatusReport): string {
  const lines: string[] = [];
  /** Adds one metric family with its samples (families without samples are left out). */
  function family(name: string, help: string, samples: [Record<string, string>, number | undefined][]) {
    const present = samples.filter(
      (sample): sample is [Record<string, string>, number] => sample[1] !== undefined,
    );
    if (present.length === 0) return;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, value] of present) lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  }
  const hosts = report.hosts;
  const seconds = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso) / 1000);
  family(
    "backupctl_host_healthy",
    "1 when the host's newest backup is within max_age, its pulls do not fail and its repository can be read, else 0.",
    hosts.map((row) => [{ host: row.host }, isHealthy(row) ? 1 : 0]),
  );
  family(
    "backupctl_host_health",
    "The host's health verdict: 1 for the current one.",
    hosts.flatMap((row) =>
      healthVerdicts.map((verdict): [Record<string, string>, number] => [
        { host: row.host, verdict },
        row.health === verdict ? 1 : 0,
      ]),
    ),
  );
  family(
    "backupctl_host_last_success_timestamp_seconds",
    "Time of the host's newest backup (the archive time of its newest snapshot), as a Unix timestamp.",
    hosts.map((row) => [{ host: row.host }, seconds(newestBackupTime(row))]),
  );
  family(
    "backupctl_host_last_success_age_seconds",
    "Age of the host's newest backup when this file was written.",
    hosts.map((row) => {
      const newest = seconds(newestBackupTime(row));
      return [
        { host: row.host },
        newest === undefined ? undefined : Date.parse(report.generated_at) / 1000 - newest,
      ];
    }),
  );
  family(
    "backupctl_host_max_age_seconds",
    "The host's max_age: an older newest backup makes it stale.",
    hosts.map((row) => [{ host: row.host }, row.max_age_seconds]),
  );
  family(
    "backupctl_host_last_result",
    "Result of the host's last pull attempt: 1 for the current result (none: never attempted).",
    hosts.flatMap((row) =>
      pullResults.map((result): [Record<string, string>, number] => [
        { host: row.host, result },
        (row.last_attempt?.status ?? "none") === result ? 1 : 0,
      ]),
    ),
  );
  family(
    "backupctl_host_failed_pulls",
    "Failed or skipped pulls of the host in a row; 0 once a pull succeeds.",
    hosts.map((row) => [{ host: row.host }, row.failing_since ? row.failed_attempts : 0]),
  );
  family(
    "backupctl_host_last_attempt_timestamp_seconds",
    "End of the host's last pull attempt, as a Unix timestamp.",
    hosts.map((row) => [{ host: row.host }, seconds(row.last_attempt?.finished_at)]),
  );
  family(
    "backupctl_host_last_duration_seconds",
    "Duration of the last pull that stored a snapshot.",
    hosts.map((row) => [
      { host: row.host },
      row.last_ingest === undefined ? undefined : row.last_ingest.duration_ms / 1000,
    ]),
  );
  family(
    "backupctl_host_last_bytes_added",
    "Bytes the last stored snapshot added to the repository (after deduplication).",
    hosts.map((row) => [{ host: row.host }, row.last_ingest?.bytes_added]),
  );
  family(
    "backupctl_host_last_archive_bytes",
    "Size of the last stored archive in bytes.",
    hosts.map((row) => [{ host: row.host }, row.last_ingest?.archive_bytes]),
  );
  family(
    "backupctl_host_last_files_new",
    "Files new in the last stored snapshot.",
    hosts.map((row) => [{ host: row.host }, row.last_ingest?.files_new]),
  );
  family(
    "backupctl_host_last_files_changed",
    "Files changed in the last stored snapshot.",
    hosts.map((row) => [{ host: row.host }, row.last_ingest?.files_changed]),
  );
  family(
    "backupctl_host_snapshots",
    "Snapshots of the host in its repository.",
    hosts.map((row) => [{ host: row.host }, row.snapshot_count]),
  );
  family(
    "backupctl_host_repository_readable",
    "1 when the host's repository could be read, else 0.",
    hosts.map((row) => [{ host: row.host }, row.repository_error === undefined ? 1 : 0]),
  );
  family(
    "backupctl_host_last_maintain_timestamp_seconds",
    "End of the last backupctl maintain of the host's repository, as a Unix timestamp.",
    hosts.map((row) => [{ host: row.host }, seconds(row.last_maintain?.finished_at)]),
  );
  family(
    "backupctl_host_last_maintain_success",
    "1 when the last backupctl maintain of the host's repository did not fail, else 0.",
    hosts.map((row) => [
      { host: row.host },
      row.last_maintain === undefined ? undefined : row.last_maintain.status === "failed" ? 0 : 1,
    ]),
  );
  family("backupctl_status_timestamp_seconds", "When this file was written, as a Unix timestamp.", [
    [{}, Date.parse(report.generated_at) / 1000],
  ]);
  return `${lines.join("\n")}\n`;
}

/** Returns the ISO time of a row's newest backup, from the snapshot or else the archive timestamp. */
function newestBackupTime(row: HostStatus): string | undefined {
  if (row.last_snapshot) return row.last_snapshot.time;
  return row.last_archive_timestamp ? timestampToIso(row.last_archive_timestamp) : undefined;
}

/** Returns "YYYYMMDD_HHMMSS" as ISO 8601, or undefined when it is not one. */
function timestampToIso(timestamp: string): string | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})$/.exec(timestamp);
  if (!match) return undefined;
  return `${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}Z`;
}

/** Returns "YYYYMMDD_HHMMSS" as "YYYY-MM-DD HH:MM:SS" for the table. */
function formatTimestamp(timestamp: string): string {
  const iso = timestampToIso(timestamp);
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : timestamp;
}

/** Returns `{a="b",…}` with values escaped as the exposition format demands, or "" without labels. */
function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  const escape = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  return `{${entries.map(([key, value]) => `${key}="${escape(value)}"`).join(",")}}`;
}

/** Returns a sample value: integers as such, other numbers with up to millisecond precision. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
}
