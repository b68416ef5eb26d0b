// What `restic forget --json` printed: one JSON array of groups (host, paths, tags) with the
// snapshots each keeps and removes, on the first stdout line that starts with "[" (prune's progress
// text follows it). Read instead of listing the snapshots again, which would cost another repository open.

/** One snapshot of a forget group, as much of it as maintain reports. */
export interface ForgetSnapshot {
  id: string;
  time: string;
}

/** The snapshots forget kept and removed, over all groups. */
export interface ForgetSummary {
  kept: ForgetSnapshot[];
  removed: ForgetSnapshot[];
}

/** Returns the summary of a forget --json line, or undefined when the line is not forget's JSON. */
export function parseForgetLine(line: string): ForgetSummary | undefined {
  if (!line.startsWith("[")) return undefined;
  let groups: unknown;
  try {
    groups = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!Array.isArray(groups)) return undefined;
  const summary: ForgetSummary = { kept: [], removed: [] };
  for (const group of groups) {
    if (typeof group !== "object" || group === null) return undefined;
    const { keep, remove } = group as { keep?: unknown; remove?: unknown };
    summary.kept.push(...snapshotsOf(keep));
    summary.removed.push(...snapshotsOf(remove));
  }
  return summary;
}

/** Returns the id and time of each entry of a JSON snapshot list (null is an empty list). */
function snapshotsOf(value: unknown): ForgetSnapshot[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry) =>
    typeof entry?.id === "string"
      ? [{ id: entry.id, time: typeof entry.time === "string" ? entry.time : "" }]
      : [],
  );
}
