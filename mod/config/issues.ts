// Configuration problems as data: every loader returns a list of issues instead of throwing, so
// `config validate` and every stage can report all of them at once as `file:line:col key.path: message`.

/** One problem found in a configuration file; whole-file problems point at line 1, column 1. */
export interface ConfigIssue {
  severity: "error" | "warning";
  file: string;
  line?: number;
  column?: number;
  /** Dotted key path inside the file ("hosts[0].ssh_user"), empty for the file as a whole. */
  path: string;
  message: string;
  hint?: string;
}

/** The result of loading one kind of configuration: a value only when there were no errors. */
export interface LoadResult<T> {
  value?: T;
  issues: ConfigIssue[];
}

/** A key path as zod and the YAML reader see it: object keys and list indexes. */
export type KeyPath = readonly (string | number)[];

/** Renders a key path for people: ["hosts", 0, "ssh_user"] → "hosts[0].ssh_user". */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else text += text === "" ? String(segment) : `.${String(segment)}`;
  }
  return text;
}

/** Formats an issue as one line: `file:line:col key.path: message (hint)`, warnings marked as such. */
export function formatIssue(issue: ConfigIssue): string {
  let location = issue.file;
  if (issue.line !== undefined) {
    location += `:${issue.line}`;
    if (issue.column !== undefined) location += `:${issue.column}`;
  }
  const path = issue.path ? ` ${issue.path}` : "";
  const severity = issue.severity === "warning" ? "warning: " : "";
  const hint = issue.hint ? ` (${issue.hint})` : "";
  return `${location}${path}: ${severity}${issue.message}${hint}`;
}

/** Returns whether any issue is an error. */
export function hasErrors(issues: readonly ConfigIssue[]): boolean {
  return issues.some((issue) => issue.severity === "error");
}

/** Orders issues by file, then line and column, keeping the order of issues at the same place. */
export function sortIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return issues
    .map((issue, index) => ({ issue, index }))
    .sort(
      (left, right) =>
        left.issue.file.localeCompare(right.issue.file) ||
        (left.issue.line ?? 0) - (right.issue.line ?? 0) ||
        (left.issue.column ?? 0) - (right.issue.column ?? 0) ||
        left.index - right.index,
    )
    .map(({ issue }) => issue);
}

/** Drops issues that are exactly repeated (the same common config seen by the client and the server). */
export function uniqueIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.severity} ${formatIssue(issue)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
