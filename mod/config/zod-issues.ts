// Turns zod's validation issues into located, readable config issues: "expected a number, got string
// "abc"", unknown keys with a did-you-mean hint, and the furthest-reaching branch of a failed union.

import type { z } from "zod";
import { type ConfigDocument, issueAt, valueAt } from "./document.ts";
import { describeValue } from "./fields.ts";
import type { ConfigIssue, KeyPath } from "./issues.ts";
import { didYouMean } from "./suggest.ts";

type ZodIssue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

const expectedNames: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "a mapping",
  record: "a mapping",
  null: "an empty value",
};

/** Returns the words for what a zod type check expected: "a number", "true or false". */
function expectedName(expected: string): string {
  return expectedNames[expected] ?? expected;
}

/** The error map passed to every parse: wording for issues whose schema has no message of its own. */
export function configErrorMap(issue: RawIssue): string | undefined {
  switch (issue.code) {
    case "invalid_type":
      if (issue.input === undefined) return "is required but missing";
      return `expected ${expectedName(issue.expected)}, got ${describeValue(issue.input)}`;
    case "invalid_value": {
      const values = issue.values.map((value) => JSON.stringify(value));
      const expected = values.length === 1 ? values[0] : `one of ${values.join(", ")}`;
      return `expected ${expected}, got ${describeValue(issue.input)}`;
    }
    case "too_small":
      return sizeMessage("at least", issue.minimum, issue.origin, issue.inclusive !== false);
    case "too_big":
      return sizeMessage("at most", issue.maximum, issue.origin, issue.inclusive !== false);
    case "invalid_union":
      if (issue.input === undefined) return "is required but missing";
      return `expected ${unionExpectations(issue.errors)}, got ${describeValue(issue.input)}`;
    default:
      return undefined;
  }
}

/** Words a range check: "must be at least 1", "must list at least 1 item", "must not be empty". */
function sizeMessage(bound: string, limit: number | bigint, origin: string, isInclusive: boolean): string {
  const value = Number(limit);
  if (origin === "array") return `must list ${bound} ${value} ${value === 1 ? "item" : "items"}`;
  if (origin === "string") {
    if (bound === "at least" && value === 1) return "must not be empty";
    return `must be ${bound} ${value} characters long`;
  }
  if (!isInclusive) return `must be ${bound === "at least" ? "greater" : "less"} than ${value}`;
  return `must be ${bound} ${value}`;
}

/** Joins what each branch of a union expected: "a string or a list". */
function unionExpectations(branches: readonly (readonly ZodIssue[])[]): string {
  const names = new Set<string>();
  for (const branch of branches) {
    for (const issue of branch) {
      if (issue.path.length > 0) continue;
      if (issue.code === "invalid_type") names.add(expectedName(issue.expected));
      else if (issue.code === "invalid_value")
        names.add(issue.values.map((value) => JSON.stringify(value)).join(", "));
    }
  }
  const list = [...names];
  if (list.length === 0) return "another kind of value";
  if (list.length === 1) return list[0] as string;
  return `${list.slice(0, -1).join(", ")} or ${list[list.length - 1]}`;
}

/** Returns the schema with optional, default, pipe and similar wrappers removed. */
function unwrapSchema(schema: z.core.$ZodType): z.core.$ZodType {
  let current = schema;
  for (let depth = 0; depth < 20; depth++) {
    const definition = current._zod.def as unknown as Record<string, unknown> & { type: string };
    if ("innerType" in definition && definition.innerType) current = definition.innerType as z.core.$ZodType;
    else if (definition.type === "pipe") {
      const input = definition.in as z.core.$ZodType;
      current = input._zod.def.type === "transform" ? (definition.out as z.core.$ZodType) : input;
    } else if (definition.type === "lazy") current = (definition.getter as () => z.core.$ZodType)();
    else return current;
  }
  return current;
}

/** Returns the schema that validates the value at a path inside a schema, or undefined. */
export function schemaAt(schema: z.core.$ZodType, path: KeyPath): z.core.$ZodType | undefined {
  let current: z.core.$ZodType | undefined = schema;
  for (const segment of path) {
    if (!current) return undefined;
    current = childSchema(unwrapSchema(current), segment);
  }
  return current;
}

/** Returns the schema of one key or index inside an object, list, record or union schema. */
function childSchema(schema: z.core.$ZodType, segment: string | number): z.core.$ZodType | undefined {
  const definition = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (definition.type) {
    case "object": {
      const shape = definition.shape as Record<string, z.core.$ZodType>;
      return shape[String(segment)] ?? (definition.catchall as z.core.$ZodType | undefined);
    }
    case "array":
      return definition.element as z.core.$ZodType;
    case "record":
      return definition.valueType as z.core.$ZodType;
    case "union":
      for (const option of definition.options as z.core.$ZodType[]) {
        const child = childSchema(unwrapSchema(option), segment);
        if (child) return child;
      }
      return undefined;
    default:
      return undefined;
  }
}

/** Returns the keys an object schema allows at a path (for did-you-mean hints). */
export function allowedKeysAt(schema: z.core.$ZodType, path: KeyPath): string[] {
  const target = schemaAt(schema, path);
  if (!target) return [];
  const unwrapped = unwrapSchema(target);
  const definition = unwrapped._zod.def as unknown as Record<string, unknown> & { type: string };
  if (definition.type === "object") return Object.keys(definition.shape as object);
  if (definition.type === "union") {
    return (definition.options as z.core.$ZodType[]).flatMap((option) => allowedKeysAt(option, []));
  }
  return [];
}

/** Converts zod issues into located config issues. */
export function configIssuesFromZod(
  issues: readonly ZodIssue[],
  context: { document: ConfigDocument; schema: z.core.$ZodType; input: unknown; prefix?: KeyPath },
): ConfigIssue[] {
  const result: ConfigIssue[] = [];
  const prefix = context.prefix ?? [];
  for (const issue of issues) collect(issue, [...prefix, ...(issue.path as (string | number)[])]);
  return result;

  /** Converts one issue at its full path, descending into the furthest branch of a failed union. */
  function collect(issue: ZodIssue, path: (string | number)[]): void {
    if (issue.code === "unrecognized_keys") {
      const allowed = allowedKeysAt(context.schema, path.slice(prefix.length));
      for (const key of issue.keys) {
        result.push(
          issueAt(context.document, [...path, key], {
            message: `unknown key "${key}"`,
            hint:
              didYouMean(key, allowed) ??
              (allowed.length ? `allowed keys: ${allowed.join(", ")}` : undefined),
            atKey: true,
          }),
        );
      }
      return;
    }
    if (issue.code === "invalid_union") {
      // a branch whose every issue lies deeper matched the shape: its issues say more than the union
      const deeper = issue.errors.find(
        (branch) => branch.length > 0 && branch.every((inner) => inner.path.length > 0),
      );
      if (deeper) {
        for (const inner of deeper) collect(inner, [...path, ...(inner.path as (string | number)[])]);
        return;
      }
    }
    let hint = (issue as { params?: { hint?: string } }).params?.hint;
    if (!hint && issue.code === "invalid_value") {
      const input = valueAt(context.input, path.slice(prefix.length));
      if (typeof input === "string") hint = didYouMean(input, issue.values.map(String));
    }
    const isMissing =
      (issue.code === "invalid_type" || issue.code === "invalid_union") &&
      valueAt(context.input, path.slice(prefix.length)) === undefined;
    result.push(issueAt(context.document, path, { message: issue.message, hint, atKey: isMissing }));
  }
}
