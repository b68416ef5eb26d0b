// server status: the health verdict table, the people's table and the node_exporter textfile,
// the latter read back by a strict exposition-format reader.

import { describe, expect, test } from "bun:test";
import { type HealthVerdict, hostHealth } from "../../../mod/server/status-health.ts";
import { type StatusReport, statusTable, statusTextfile } from "../../../mod/server/status-output.ts";
import { parseExposition } from "./prometheus-format.ts";

const hour = 3_600_000;
const now = new Date("2026-11-26T12:00:00Z");

describe("hostHealth", () => {
  const cases: [string, Date | undefined, string | undefined, HealthVerdict, string][] = [
    ["a fresh backup and no failure is ok", new Date(now.getTime() - 2 * hour), undefined, "ok", "ok"],
    [
      "a backup older than max_age is stale",
      new Date(now.getTime() - 50 * hour),
      undefined,
      "stale",
      "stale: newest backup 2d 2h old (max_age 1d 12h)",
    ],
    [
      "a failing host is failing, even with a fresh backup",
      new Date(now.getTime() - 2 * hour),
      "2026-11-26T02:00:00Z",
      "failing",
      "failing since 2026-11-26T02:00:00Z",
    ],
    ["no backup at all is never backed up", undefined, undefined, "never", "never backed up"],
    [
      "never backed up and failing says both",
      undefined,
      "2026-11-26T02:00:00Z",
      "never",
      "never backed up (failing since 2026-11-26T02:00:00Z)",
    ],
  ];
  for (const [name, newestBackup, failingSince, verdict, text] of cases) {
    test(name, () => {
      expect(hostHealth({ newestBackup, failingSince, maxAgeMs: 36 * hour, now })).toEqual({ verdict, text });
    });
  }

  test("a failing host's text counts its failed pulls when the record has the count", () => {
    const failingSince = "2026-11-24T02:00:00Z";
    const fresh = new Date(now.getTime() - 2 * hour);
    expect(
      hostHealth({ newestBackup: fresh, failingSince, failedAttempts: 3, maxAgeMs: 36 * hour, now }),
    ).toEqual({
      verdict: "failing",
      text: "failing since 2026-11-24T02:00:00Z (3 pulls in a row)",
    });
    expect(
      hostHealth({ newestBackup: undefined, failingSince, failedAttempts: 1, maxAgeMs: 36 * hour, now }),
    ).toEqual({
      verdict: "never",
      text: "never backed up (failing since 2026-11-24T02:00:00Z (1 pull))",
    });
  });
});

const report: StatusReport = {
  generated_at: now.toISOString(),
  healthy: false,
  hosts: [
    {
      host: "web01",
      repository: "/srv/restic/web01",
      health: "ok",
      health_text: "ok",
      max_age_seconds: 129_600,
      last_archive_timestamp: "20261126_100000",
      last_snapshot: {
        id: "a".repeat(64),
        short_id: "aaaaaaaa",
        time: "2026-11-26T10:00:00.000Z",
        age_seconds: 7200,
      },
      snapshot_count: 12,
      last_ingest: {
        finished_at: "2026-11-26T10:05:00.000Z",
        archive: "web01-20261126_100000.tar.gz",
        archive_bytes: 5_242_880,
        files_new: 3,
        files_changed: 4,
        bytes_added: 123_456,
        duration_ms: 61_500,
      },
      last_attempt: { status: "ok", finished_at: "2026-11-26T10:05:00.000Z", duration_ms: 61_500 },
    },
    {
      host: 'we"ird\\host',
      repository: "/srv/restic/x",
      health: "never",
      health_text: "never backed up",
      max_age_seconds: 129_600,
      failing_since: "2026-11-25T02:00:00Z",
      failed_attempts: 2,
      repository_error: 'there is no restic repository at "/srv/restic/x"',
    },
  ],
};

describe("statusTable", () => {
  test("one row per host with the last ingest's numbers and the repository error", () => {
    const lines = statusTable(report).split("\n");
    expect(lines[0]).toMatch(/^host\s+health\s+last archive\s+snapshot\s+age\s+count\s+size/);
    expect(lines[2]).toMatch(
      /^web01\s+ok\s+2026-11-26 10:00:00\s+aaaaaaaa\s+2h\s+12\s+5\.0 MiB\s+3\s+4\s+120\.6 KiB\s+ok/,
    );
    expect(lines[3]).toContain("never backed up");
    expect(lines[3]).toContain("there is no restic repository");
  });
});

describe("statusTextfile", () => {
  const families = parseExposition(statusTextfile(report));

  test("is valid exposition format with HELP and TYPE for every family", () => {
    for (const family of families.values()) {
      expect(family.help).toBeTruthy();
      expect(family.type).toBe("gauge");
    }
  });

  test("holds the last-success timestamp, age, result, bytes added and duration per host", () => {
    const value = (name: string, labels: Record<string, string>) =>
      families.get(name)?.samples.find((sample) => JSON.stringify(sample.labels) === JSON.stringify(labels))
        ?.value;
    expect(value("backupctl_host_last_success_timestamp_seconds", { host: "web01" })).toBe(
      Date.parse("2026-11-26T10:00:00Z") / 1000,
    );
    expect(value("backupctl_host_last_success_age_seconds", { host: "web01" })).toBe(7200);
    expect(value("backupctl_host_last_result", { host: "web01", result: "ok" })).toBe(1);
    expect(value("backupctl_host_last_result", { host: "web01", result: "failed" })).toBe(0);
    expect(value("backupctl_host_last_bytes_added", { host: "web01" })).toBe(123_456);
    expect(value("backupctl_host_last_duration_seconds", { host: "web01" })).toBe(61.5);
    expect(value("backupctl_host_healthy", { host: 'we"ird\\host' })).toBe(0);
    expect(value("backupctl_host_last_result", { host: 'we"ird\\host', result: "none" })).toBe(1);
    expect(value("backupctl_host_repository_readable", { host: 'we"ird\\host' })).toBe(0);
    expect(value("backupctl_host_failed_pulls", { host: "web01" })).toBe(0);
    expect(value("backupctl_host_failed_pulls", { host: 'we"ird\\host' })).toBe(2);
  });

  test("leaves out what a host does not have, rather than writing a made-up zero", () => {
    const hosts = families
      .get("backupctl_host_last_success_timestamp_seconds")
      ?.samples.map((sample) => sample.labels.host);
    expect(hosts).toEqual(["web01"]);
  });
});

describe("parseExposition", () => {
  const refused: [string, string][] = [
    ["a TYPE after the samples", "a 1\n# TYPE a gauge\n"],
    ["a family split in two", 'a 1\nb 1\na{x="1"} 2\n'],
    ["a duplicate series", 'a{x="1"} 1\na{x="1"} 2\n'],
    ["an unquoted label", "a{x=1} 1\n"],
    ["a bad escape", 'a{x="\\t"} 1\n'],
    ["a value that is no float", "a one\n"],
    ["a missing final newline", "a 1"],
    ["a bad metric name", "1a 1\n"],
  ];
  for (const [name, text] of refused) {
    test(`refuses ${name}`, () => expect(() => parseExposition(text)).toThrow());
  }
});
