// Schema of common_config.yml: defaults shared by the client and the server (tools, mail, admin
// address, log level, plugin dir, retention). Its values fill in what client and server files leave out.

import { z } from "zod";
import { absolutePath, logLevel, mailAddressList, singleLineString, workDirectory } from "./fields.ts";
import { mailSchema } from "./mail.ts";
import { toolsSchema } from "./tools.ts";

/** The keys common_config.yml shares with client_config.yml and server_config.yml. */
export const commonConfigShape = {
  admin_email: mailAddressList()
    .optional()
    .describe("where failure and summary mails go: one address or a list (default: none, no mail)"),
  email_subject_prefix: singleLineString()
    .optional()
    .describe(
      "text before every mail subject (default: [Backup Error] on clients, [Backup Server] on the server)",
    ),
  log_level: logLevel()
    .default("info")
    .describe("error, warn, info or debug; 0-3 as in the original (default: info)"),
  plugin_dir: absolutePath()
    .default("/opt/backup/lib/plugins")
    .describe(
      "directory of external plugins, one executable per task key (default: /opt/backup/lib/plugins)",
    ),
  keep_days: z
    .int()
    .min(1)
    .default(7)
    .describe("days a client keeps its archives; the newest is always kept (default: 7)"),
  min_free_space_mb: z
    .int()
    .min(0)
    .default(500)
    .describe(
      "free space in MiB the backup directory must keep, beyond the archive's estimate (default: 500)",
    ),
  state_dir: workDirectory()
    .default("/var/lib/backupctl")
    .describe(
      "where run state is kept: stopped stacks, results, check rotation (default: /var/lib/backupctl)",
    ),
  tools: toolsSchema.prefault({}).describe("commands of the external programs backupctl runs"),
  mail: mailSchema.prefault({}).describe("how mail is sent"),
};

/** common_config.yml. */
export const commonConfigSchema = z.strictObject(commonConfigShape);

export type CommonConfigInput = z.input<typeof commonConfigSchema>;
export type CommonConfig = z.output<typeof commonConfigSchema>;

/** The common keys a client or server file may leave out to inherit them from common_config.yml. */
export const inheritedCommonKeys = [
  "admin_email",
  "email_subject_prefix",
  "log_level",
  "plugin_dir",
  "keep_days",
  "min_free_space_mb",
  "state_dir",
  "tools",
  "mail",
] as const;
