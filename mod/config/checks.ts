// The steps every config file goes through, whatever its kind: its own permissions, the files it
// names, empty values and old key names, validation against its schema, and rule findings as issues.

import type { z } from "zod";
import { applyAliases, type KeyAlias } from "./aliases.ts";
import { type ConfigDocument, fileIssue, issueAt, withoutEmptyValues } from "./document.ts";
import type { ConfigIssue, KeyPath, LoadResult } from "./issues.ts";
import { type FileAccess, permissionProblems } from "./permissions.ts";
import type { RuleFinding } from "./rules.ts";
import { configErrorMap, configIssuesFromZod } from "./zod-issues.ts";

/** Returns the issues of a config file's own ownership and mode (it must be private). */
export function configFilePermissionIssues(file: string): ConfigIssue[] {
  return permissionProblems(file)
    .filter((problem) => problem.kind !== "missing")
    .map((problem) => fileIssue(file, { message: problem.message, hint: problem.hint }));
}

/** Returns the issues of a file a config refers to (password, key, known_hosts), if that file exists. */
export function referencedFileIssues(
  document: ConfigDocument,
  keyPath: KeyPath,
  file: string | undefined,
  access: FileAccess = "private",
): ConfigIssue[] {
  if (file === undefined) return [];
  // whether the file exists on this host is checked when it is used; only a present file can be too open
  return permissionProblems(file, { access })
    .filter((problem) => problem.kind !== "missing")
    .map((problem) => issueAt(document, keyPath, { message: problem.message, hint: problem.hint }));
}

/** Turns rule findings into issues located in a document. */
export function findingIssues(document: ConfigDocument, findings: readonly RuleFinding[]): ConfigIssue[] {
  return findings.map((finding) =>
    issueAt(document, finding.path, {
      severity: finding.severity,
      message: finding.message,
      hint: finding.hint,
    }),
  );
}

/** Prepares a parsed document: empty values dropped, old key names rewritten; returns its issues so far. */
export function prepareDocument(document: ConfigDocument, aliases: readonly KeyAlias[]): ConfigIssue[] {
  const issues = [...document.issues];
  if (document.isBroken) return issues;
  if (document.value === undefined || document.value === null) {
    issues.push(
      fileIssue(document.file, {
        message: "the file holds no settings",
        hint: "write at least one setting, or {} to take every default",
      }),
    );
    document.isBroken = true;
    return issues;
  }
  document.value = withoutEmptyValues(document.value);
  issues.push(...applyAliases(document, aliases));
  return issues;
}

/** Validates a prepared document's value against a schema. */
export function validatePrepared<Schema extends z.ZodType>(
  document: ConfigDocument,
  schema: Schema,
): LoadResult<z.output<Schema>> {
  if (document.isBroken) return { issues: [] };
  const result = schema.safeParse(document.value, { error: configErrorMap });
  if (!result.success) {
    return { issues: configIssuesFromZod(result.error.issues, { document, schema, input: document.value }) };
  }
  return { value: result.data, issues: [] };
}
