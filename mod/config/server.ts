// Schema of server_config.yml: `global` settings of `server pull` and `maintain`, the `restic`
// repositories and policy, and `hosts[]`. resolveServerConfig fills each host's inherited values.

import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { commonConfigShape } from "./common.ts";
import {
  absolutePath,
  accountName,
  byteSize,
  commandLine,
  duration,
  expecting,
  hasControlCharacters,
  mailAddressList,
  networkAddress,
  optionList,
  port,
  refuseOptions,
  resticRepositoryOptions,
  safeName,
  workDirectory,
} from "./fields.ts";
import {
  effectiveMaintenance,
  type Maintenance,
  maintenanceOverrideSchema,
  maintenanceSchema,
} from "./maintenance.ts";
import { pingSchema } from "./ping.ts";

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;

/** A restic repository: an absolute path or a backend URL (sftp:, rest:, s3:, b2:, azure:, gs:, swift:, rclone:). */
function repositoryLocation() {
  return z
    .string({ error: expecting("a repository path or URL") })
    .refine(
      (value) =>
        !hasControlCharacters(value) &&
        (value.startsWith("/") || /^(local|sftp|rest|s3|b2|azure|gs|swift|rclone):\S+/.test(value)),
      { message: "must be an absolute path or a restic backend URL such as sftp:user@host:/srv/restic" },
    );
}

/** `global:` of server_config.yml. */
export const serverGlobalSchema = z.strictObject({
  local_temp_base_dir: workDirectory()
    .default("/var/tmp/backup_server_work")
    .describe(
      "where archives are unpacked, at <dir>/<host>/data, before ingest (default: /var/tmp/backup_server_work)",
    ),
  state_dir: commonConfigShape.state_dir,
  admin_email: commonConfigShape.admin_email.describe(
    "where the summary and host failure mails go (default: common admin_email; none: no mail)",
  ),
  email_subject_prefix: commonConfigShape.email_subject_prefix
    .unwrap()
    .default("[Backup Server]")
    .describe("text before every mail subject (default: [Backup Server])"),
  hostname: safeName()
    .prefault(() => os.hostname())
    .describe("this server's name in mails (default: the system hostname)"),
  log_level: commonConfigShape.log_level,
  min_free_space_mb: commonConfigShape.min_free_space_mb.describe(
    "free space in MiB local_temp_base_dir must keep beyond a host's unpacked data (its last unpack, or the archive's size) and what hosts unpacking at the same time reserved, before a download starts (default: 500)",
  ),
  concurrency: z.int().min(1).max(64).default(2).describe("hosts pulled at the same time (default: 2)"),
  known_hosts_file: absolutePath()
    .default("/etc/backup/known_hosts")
    .describe(
      "OpenSSH known_hosts file the clients' host keys are checked against (default: /etc/backup/known_hosts)",
    ),
  connect_timeout: duration()
    .default(30 * second)
    .describe("SSH connect and handshake timeout (default: 30s)"),
  idle_timeout: duration()
    .default(5 * minute)
    .describe("a transfer that receives nothing for this long fails (default: 5m)"),
  keepalive_interval: duration()
    .default(15 * second)
    .describe("SSH keepalive interval (default: 15s)"),
  lock_check_retries: z
    .int()
    .min(0)
    .default(3)
    .describe("how often to look again when a client's archive lock is present (default: 3)"),
  lock_check_delay: duration()
    .default(120 * second)
    .describe("wait between lock checks (default: 120s)"),
  stale_lock_after: duration()
    .default(6 * hour)
    .describe("a client lock older than this raises a stale-lock alert (default: 6h)"),
  repository_lock_wait: duration()
    .default(30 * minute)
    .describe("how long pull and maintain wait for a repository the other job is using (default: 30m)"),
  max_age: duration()
    .default(36 * hour)
    .describe(
      "a host whose newest archive or snapshot is older is stale (default: 36h; per host: hosts[].max_age)",
    ),
  max_clock_skew: duration()
    .default(5 * minute)
    .describe("archives dated further in the future than this are refused (default: 5m)"),
  max_archive_bytes: byteSize()
    .default(1024 ** 4)
    .describe("largest unpacked archive accepted, in bytes or 500G, 2T (default: 1T)"),
  max_archive_entries: z
    .int()
    .min(1)
    .default(10_000_000)
    .describe("most entries an archive may hold (default: 10000000)"),
  tools: commonConfigShape.tools,
  mail: commonConfigShape.mail,
  ping: pingSchema.optional().describe("dead-man's-switch pings for server pull (default: none)"),
});

// restic backup options that would store somewhere else, under another name, or nothing at all while
// backupctl reports a snapshot: backupctl sets these itself (restic/args.ts, restic/runner.ts)
const controlledBackupOptions = new Map<string, string>([
  ...resticRepositoryOptions,
  ["-H", "the host name is the host's hostname"],
  ["--host", "the host name is the host's hostname"],
  ["--tag", "the tags name the archive"],
  ["--time", "the time is the archive's"],
  ["--json", "backupctl reads restic's JSON output"],
  ["-n", "a dry run stores nothing"],
  ["--dry-run", "a dry run stores nothing"],
  ["--stdin", "the input is the unpacked archive"],
  ["--stdin-filename", "the input is the unpacked archive"],
  ["--files-from", "the input is the unpacked archive"],
  ["--files-from-raw", "the input is the unpacked archive"],
  ["--files-from-verbatim", "the input is the unpacked archive"],
]);

/** `restic:` of server_config.yml. */
export const serverResticSchema = z.strictObject({
  repository_root: repositoryLocation()
    .optional()
    .describe("repositories are <repository_root>/<hostname> unless a host sets repository"),
  password_file: absolutePath().describe("file holding the repositories' password, mode 0600 (required)"),
  restic_cmd: commandLine().optional().describe("the restic command (default: tools.restic_cmd, restic)"),
  init_missing_repos: z
    .boolean()
    .default(false)
    .describe("initialise a missing repository on first pull instead of failing (default: false)"),
  backup_options: optionList()
    .superRefine(refuseOptions(controlledBackupOptions))
    .default([])
    .describe(
      "extra options for restic backup: a list, or a string split like a shell does; not the repository, password, host, tags, time, input or --dry-run, which backupctl sets (default: none)",
    ),
  maintenance: maintenanceSchema.prefault({}).describe("retention and checks run by backupctl maintain"),
});

/** One entry of `hosts:`. */
export const serverHostSchema = z.strictObject({
  hostname: safeName().describe(
    "the client's hostname setting: archive prefix, snapshot host, repository name",
  ),
  address: networkAddress().optional().describe("where to connect (default: hostname)"),
  port: port().default(22).describe("SSH port (default: 22)"),
  ssh_user: accountName().describe("account on the client that can read its backup directory (required)"),
  ssh_key_file: absolutePath().describe("private key for that account, mode 0600 (required)"),
  known_hosts_file: absolutePath()
    .optional()
    .describe("known_hosts for this host (default: global.known_hosts_file)"),
  remote_tar_dir: absolutePath()
    .default("/var/tmp/backups")
    .describe("the client's base_backup_dir as seen over SFTP (default: /var/tmp/backups)"),
  admin_email: mailAddressList()
    .optional()
    .describe("where this host's failure mails go (default: global.admin_email)"),
  after_ingest: z
    .enum(["move", "delete", "keep"])
    .default("move")
    .describe(
      "what to do with a stored archive on the client: move to done/ keeping the newest, delete, keep (default: move)",
    ),
  max_age: duration()
    .optional()
    .describe("this host is stale when its newest archive is older (default: global.max_age)"),
  repository: repositoryLocation()
    .optional()
    .describe("this host's repository, any restic location (default: <repository_root>/<hostname>)"),
  password_file: absolutePath()
    .optional()
    .describe("this repository's password file (default: restic.password_file)"),
  maintenance: maintenanceOverrideSchema
    .optional()
    .describe("this host's retention (replaces the global policy) and check settings"),
});

/** server_config.yml. */
export const serverConfigSchema = z.strictObject({
  global: serverGlobalSchema.prefault({}).describe("settings of server pull and maintain"),
  restic: serverResticSchema.describe("the restic repositories"),
  hosts: z.array(serverHostSchema).min(1).describe("the clients to pull from"),
});

export type ServerConfigInput = z.input<typeof serverConfigSchema>;
export type ParsedServerConfig = z.output<typeof serverConfigSchema>;
export type ParsedServerHost = z.output<typeof serverHostSchema>;

/** One host with every inherited value filled in: what server pull, maintain and status read. */
export interface ServerHostConfig extends Omit<ParsedServerHost, "maintenance"> {
  address: string;
  known_hosts_file: string;
  admin_email: string[];
  max_age: number;
  repository: string;
  password_file: string;
  maintenance: Maintenance;
}

/** server_config.yml as the code reads it. */
export interface ServerConfig {
  global: ParsedServerConfig["global"];
  restic: Omit<ParsedServerConfig["restic"], "restic_cmd"> & { restic_cmd: string[] };
  hosts: ServerHostConfig[];
}

/** Returns a host's repository: its own, or <repository_root>/<hostname>; undefined when neither is set. */
export function repositoryOf(
  restic: Pick<ParsedServerConfig["restic"], "repository_root">,
  host: Pick<ParsedServerHost, "hostname" | "repository">,
): string | undefined {
  if (host.repository) return host.repository;
  if (!restic.repository_root) return undefined;
  return restic.repository_root.startsWith("/")
    ? path.posix.join(restic.repository_root, host.hostname)
    : `${restic.repository_root.replace(/\/$/, "")}/${host.hostname}`;
}

/** Fills each host's inherited values (call after the rules found no errors). */
export function resolveServerConfig(parsed: ParsedServerConfig): ServerConfig {
  const { global, restic } = parsed;
  const maintenance = effectiveMaintenance(restic.maintenance, undefined);
  return {
    global,
    restic: { ...restic, restic_cmd: restic.restic_cmd ?? global.tools.restic_cmd, maintenance },
    hosts: parsed.hosts.map((host) => ({
      ...host,
      address: host.address ?? host.hostname,
      known_hosts_file: host.known_hosts_file ?? global.known_hosts_file,
      admin_email: host.admin_email ?? global.admin_email ?? [],
      max_age: host.max_age ?? global.max_age,
      repository: repositoryOf(restic, host) ?? "",
      password_file: host.password_file ?? restic.password_file,
      maintenance: effectiveMaintenance(restic.maintenance, host.maintenance),
    })),
  };
}
