// Schema of `restic.maintenance` in server_config.yml and of each host's override: the retention
// policy (keep_* keys or the original's option string), prune, check and the rotating read-data subset.

import { z } from "zod";
import {
  expecting,
  mailAddressList,
  optionList,
  refuseOptions,
  resticRepositoryOptions,
  singleLineString,
} from "./fields.ts";
import { pingSchema } from "./ping.ts";

/** keep_* values: a count, or -1 for "keep all" (restic 0.16 and later). */
function keepCount(description: string) {
  return z
    .int({ error: expecting("a whole number") })
    .min(-1)
    .refine((value) => value !== 0, {
      message: "must be 1 or more (or -1 for all); leave the key out instead of 0",
    })
    .optional()
    .describe(description);
}

// restic's own duration notation for --keep-within: years, months, days, hours
const resticDurationExpression = /^(?=\d)(\d+y)?(\d+m)?(\d+d)?(\d+h)?$/;

/** Keys of a retention policy. */
export const retentionPolicyShape = {
  keep_last: keepCount("keep the newest N snapshots"),
  keep_hourly: keepCount("keep the newest snapshot of each of the last N hours"),
  keep_daily: keepCount("keep the newest snapshot of each of the last N days"),
  keep_weekly: keepCount("keep the newest snapshot of each of the last N weeks"),
  keep_monthly: keepCount("keep the newest snapshot of each of the last N months"),
  keep_yearly: keepCount("keep the newest snapshot of each of the last N years"),
  keep_within: z
    .string({ error: expecting("a restic duration such as 1y6m or 14d") })
    .regex(resticDurationExpression, { message: "must be a restic duration such as 2y5m7d3h, 14d or 48h" })
    .optional()
    .describe("keep every snapshot newer than this, in restic's notation (2y5m7d3h)"),
  keep_tag: z
    .union([z.string(), z.array(z.string())], { error: expecting("a tag or a list of tags") })
    .transform((value) => (Array.isArray(value) ? value : [value]))
    .optional()
    .describe("keep every snapshot carrying one of these tags"),
  forget_options: optionList()
    .optional()
    .describe("the original's option string (--keep-daily 7 --keep-weekly 4); use keep_* keys instead"),
};

/** The keep_* keys, in restic's order. */
export const keepKeys = [
  "keep_last",
  "keep_hourly",
  "keep_daily",
  "keep_weekly",
  "keep_monthly",
  "keep_yearly",
  "keep_within",
  "keep_tag",
] as const;

/** The policy used when neither the global maintenance nor a host sets one (the original's default). */
export const defaultRetentionPolicy = {
  keep_daily: 7,
  keep_weekly: 4,
  keep_monthly: 12,
  keep_yearly: 3,
} as const;

const readDataSubsetExpression = /^(\d+)\/(\d+)$|^(\d+(?:\.\d+)?)%$/;

/** `read_data_subset`: n/t (rotated each run, so t runs read everything) or a percentage. */
function readDataSubset() {
  return z.string({ error: expecting('a subset such as "1/7" or "5%"') }).superRefine((value, context) => {
    const match = readDataSubsetExpression.exec(value);
    const isFraction = match?.[1] !== undefined;
    const n = Number(match?.[1]);
    const t = Number(match?.[2]);
    const percent = Number(match?.[3]);
    const isValid = match && (isFraction ? n >= 1 && t >= 1 && n <= t : percent > 0 && percent <= 100);
    if (!isValid) {
      context.issues.push({
        code: "custom",
        message: `"${value}" is not a read-data subset`,
        input: value,
        params: {
          hint: 'write n/t with 1 <= n <= t (such as "1/7", rotated each run) or a percentage such as "5%"',
        },
      });
    }
  });
}

/** `restic.maintenance`: the global policy and what maintain does. */
export const maintenanceSchema = z.strictObject({
  ...retentionPolicyShape,
  prune: z
    .boolean()
    .default(true)
    .describe("forget with --prune, removing unreferenced data (default: true)"),
  check: z.boolean().default(true).describe("run restic check after forget (default: true)"),
  check_options: optionList()
    .superRefine(refuseOptions(resticRepositoryOptions))
    .default([])
    .describe(
      "extra options for restic check; not the repository or password, which backupctl sets (default: none)",
    ),
  read_data_subset: readDataSubset()
    .optional()
    .describe(
      'also read this part of the pack data: "n/t" rotates through all t parts, "5%" (default: none)',
    ),
  show_stats: z.boolean().default(false).describe("log restic stats after maintenance (default: false)"),
  admin_email: mailAddressList()
    .optional()
    .describe("where maintenance failure mails go (default: global.admin_email)"),
  email_subject_prefix: singleLineString()
    .optional()
    .describe("subject prefix of maintenance mails (default: global.email_subject_prefix)"),
  ping: pingSchema.optional().describe("dead-man's-switch pings for maintain (default: none)"),
});

/** A host's `maintenance:` override: its policy replaces the global one as a whole, other keys one by one. */
export const maintenanceOverrideSchema = z.strictObject({
  ...retentionPolicyShape,
  prune: z.boolean().optional().describe("override restic.maintenance.prune for this host"),
  check: z.boolean().optional().describe("override restic.maintenance.check for this host"),
  check_options: optionList()
    .superRefine(refuseOptions(resticRepositoryOptions))
    .optional()
    .describe("override restic.maintenance.check_options for this host"),
  read_data_subset: readDataSubset().optional().describe("override restic.maintenance.read_data_subset"),
});

export type MaintenanceInput = z.input<typeof maintenanceSchema>;
export type Maintenance = z.output<typeof maintenanceSchema>;
export type MaintenanceOverrideInput = z.input<typeof maintenanceOverrideSchema>;
export type MaintenanceOverride = z.output<typeof maintenanceOverrideSchema>;

/** The retention part of a maintenance block. */
export type RetentionPolicy = Pick<Maintenance, (typeof keepKeys)[number] | "forget_options">;

/** Returns whether a block sets any retention (a keep_* key or forget_options). */
export function hasRetentionPolicy(policy: Partial<RetentionPolicy>): boolean {
  return policy.forget_options !== undefined || keepKeys.some((key) => policy[key] !== undefined);
}

/** Returns only the retention keys of a block. */
function retentionOf(policy: Partial<RetentionPolicy>): RetentionPolicy {
  const result: RetentionPolicy = {};
  for (const key of keepKeys) {
    if (policy[key] !== undefined) Object.assign(result, { [key]: policy[key] });
  }
  if (policy.forget_options !== undefined) result.forget_options = policy.forget_options;
  return result;
}

/** Returns the maintenance that applies to one host: its own policy if it has one, else the global one. */
export function effectiveMaintenance(
  global: Maintenance,
  override: MaintenanceOverride | undefined,
): Maintenance {
  const globalPolicy = hasRetentionPolicy(global) ? retentionOf(global) : { ...defaultRetentionPolicy };
  const policy = override && hasRetentionPolicy(override) ? retentionOf(override) : globalPolicy;
  const settings = { ...global };
  for (const key of [...keepKeys, "forget_options"] as const) delete settings[key];
  return {
    ...settings,
    ...policy,
    prune: override?.prune ?? global.prune,
    check: override?.check ?? global.check,
    check_options: override?.check_options ?? global.check_options,
    read_data_subset: override?.read_data_subset ?? global.read_data_subset,
  };
}
