// Schema of client_config.yml: where `client run` stages and archives, who owns the archives, how
// they are compressed, and the shared lock the server checks before it fetches.

import os from "node:os";
import { z } from "zod";
import { commonConfigShape } from "./common.ts";
import { accountName, duration, safeName, workDirectory } from "./fields.ts";
import { pingSchema } from "./ping.ts";

const compressionDefaultLevels = { gzip: 6, zstd: 3 } as const;
const compressionMaximumLevels = { gzip: 9, zstd: 19 } as const;

/** The `compression:` block of the archive. */
export const compressionSchema = z
  .strictObject({
    algorithm: z
      .enum(["gzip", "zstd"])
      .default("gzip")
      .describe("gzip (.tar.gz, pigz when installed) or zstd (.tar.zst, much faster) (default: gzip)"),
    level: z
      .int()
      .min(1)
      .optional()
      .describe("compression level: gzip 1-9 (default 6), zstd 1-19 (default 3)"),
    threads: z
      .int()
      .min(0)
      .default(0)
      .describe("compression threads for pigz and zstd; 0 uses every core (default: 0)"),
  })
  .superRefine((compression, context) => {
    const maximum = compressionMaximumLevels[compression.algorithm];
    if (compression.level !== undefined && compression.level > maximum) {
      context.issues.push({
        code: "custom",
        message: `${compression.algorithm} levels go from 1 to ${maximum}, got ${compression.level}`,
        path: ["level"],
        input: compression.level,
      });
    }
  })
  .transform((compression) => ({
    ...compression,
    level: compression.level ?? compressionDefaultLevels[compression.algorithm],
  }));

/** client_config.yml. */
export const clientConfigSchema = z.strictObject({
  base_backup_dir: workDirectory()
    .default("/var/tmp/backups")
    .describe(
      "where archives are written and staged; the server's remote_tar_dir for this host (default: /var/tmp/backups)",
    ),
  backup_user: accountName()
    .default("root")
    .describe("owner of the archives: the account the server logs in as (default: root)"),
  backup_group: accountName().default("root").describe("group of the archives (default: root)"),
  hostname: safeName()
    .prefault(() => os.hostname())
    .describe(
      "this host's name: the archive name prefix, equal to the server's hosts[].hostname (default: the system hostname)",
    ),
  ...commonConfigShape,
  email_subject_prefix: commonConfigShape.email_subject_prefix
    .unwrap()
    .default("[Backup Error]")
    .describe("text before every mail subject (default: [Backup Error])"),
  compression: compressionSchema.prefault({}).describe("how the archive is compressed"),
  lock_retries: z
    .int()
    .min(0)
    .default(3)
    .describe("how often to retry taking the shared archive lock when another run holds it (default: 3)"),
  lock_retry_delay: duration()
    .default(60_000)
    .describe("wait between shared lock attempts; seconds or 90s, 5m, … (default: 60s)"),
  stale_lock_after: duration()
    .default(6 * 60 * 60 * 1000)
    .describe(
      "a shared lock older than this whose owner cannot be confirmed alive is replaced (default: 6h)",
    ),
  ping: pingSchema.optional().describe("dead-man's-switch pings for client run (default: none)"),
});

export type ClientConfigInput = z.input<typeof clientConfigSchema>;
export type ClientConfig = z.output<typeof clientConfigSchema>;
export type Compression = ClientConfig["compression"];
