// The rotating `restic check --read-data-subset` of maintain: a configured "n/t" starts at part n and
// advances one part per run, wrapping after t, so every pack is read once every t runs. The counter
// lives in the maintain state; this module only computes, so it is a pure function with a table test.

import { BackupError } from "../lib/errors.ts";

/** This run's subset and the counter to store for the next run. */
export interface ReadDataSubsetSelection {
  /** The --read-data-subset value for this run ("k/t", or the configured value unchanged). */
  subset: string;
  /** The part the next run reads, to keep in the state; undefined when the subset does not rotate. */
  nextPart: number | undefined;
}

const partExpression = /^(\d+)\/(\d+)$/;

/** Returns this run's subset for a configured value and the stored next part. Throws BackupError when an "n/t" value is out of range. */
export function selectReadDataSubset(
  configured: string,
  storedPart: number | undefined,
): ReadDataSubsetSelection {
  const match = partExpression.exec(configured.trim());
  // "10%" or "500M" pick a random subset every run: nothing to rotate
  if (!match) return { subset: configured, nextPart: undefined };
  const start = Number(match[1]);
  const total = Number(match[2]);
  if (total < 1 || start < 1 || start > total) {
    throw new BackupError(
      `Cannot use read_data_subset "${configured}": the part must be between 1 and the total`,
      {
        code: "usage",
        hint: 'write "n/t" with 1 ≤ n ≤ t, such as "1/7"',
      },
    );
  }
  // a missing, damaged or out-of-range counter (t lowered in config) starts again rather than failing
  const isUsable = storedPart !== undefined && Number.isInteger(storedPart) && storedPart >= 1;
  const part = isUsable ? ((storedPart - 1) % total) + 1 : start;
  return { subset: `${part}/${total}`, nextPart: (part % total) + 1 };
}
