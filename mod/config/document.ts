// A config file as read from disk: its plain value plus where each key and value stands in the file,
// so any problem found later (by zod, by a rule, by a permission check) is reported as file:line:col.

import { readFileSync } from "node:fs";
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { errnoCode, errorMessage } from "../lib/errors.ts";
import { type ConfigIssue, formatKeyPath, type KeyPath } from "./issues.ts";

/** A place in a file, 1-based. */
export interface Position {
  file: string;
  line: number;
  column: number;
}

/** Where a key and its value stand in the file. */
export interface NodeLocation {
  key?: Position;
  value: Position;
}

/** A parsed config file: its value, the location of every path in it, and the problems found reading it. */
export interface ConfigDocument {
  file: string;
  value: unknown;
  locations: Map<string, NodeLocation>;
  issues: ConfigIssue[];
  /** True when the file could not be read or parsed; its value must not be validated further. */
  isBroken: boolean;
}

// alias expansions allowed per file: real configs use a handful, an alias bomb uses millions
const maximumNodes = 100_000;

/** Returns whether a value is a plain mapping (not a list, not null). */
export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Returns the value at a key path of a plain value, or undefined. */
export function valueAt(value: unknown, path: KeyPath): unknown {
  let current = value;
  for (const segment of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

/** Returns the map key of a path. */
export function pathKey(path: KeyPath): string {
  return JSON.stringify(path);
}

/** Returns an empty document for a file that has no YAML source (the legacy shell config). */
export function emptyDocument(file: string): ConfigDocument {
  return { file, value: {}, locations: new Map(), issues: [], isBroken: false };
}

/** Returns the position of a path, or of its nearest ancestor that is in the file. */
export function locate(document: ConfigDocument, path: KeyPath, options: { atKey?: boolean } = {}): Position {
  for (let length = path.length; length >= 0; length--) {
    const location = document.locations.get(pathKey(path.slice(0, length)));
    if (!location) continue;
    // a missing key is reported at its parent's key line ("docker:"), a bad value at the value
    const isExact = length === path.length;
    if (isExact && !options.atKey) return location.value;
    return location.key ?? location.value;
  }
  return { file: document.file, line: 1, column: 1 };
}

/** Builds an issue located at a path of a document. */
export function issueAt(
  document: ConfigDocument,
  path: KeyPath,
  details: { severity?: ConfigIssue["severity"]; message: string; hint?: string; atKey?: boolean },
): ConfigIssue {
  const position = locate(document, path, { atKey: details.atKey });
  const issue: ConfigIssue = {
    severity: details.severity ?? "error",
    file: position.file,
    line: position.line,
    column: position.column,
    path: formatKeyPath(path),
    message: details.message,
  };
  if (details.hint) issue.hint = details.hint;
  return issue;
}

/** Builds an issue about a file as a whole, pointing at its first line. */
export function fileIssue(
  file: string,
  details: { severity?: ConfigIssue["severity"]; message: string; hint?: string },
): ConfigIssue {
  const issue: ConfigIssue = {
    severity: details.severity ?? "error",
    file,
    line: 1,
    column: 1,
    path: "",
    message: details.message,
  };
  if (details.hint) issue.hint = details.hint;
  return issue;
}

/** Reads and parses a YAML config file; a file that cannot be read becomes an issue. */
export function readYamlDocument(file: string): ConfigDocument {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const reason = errnoCode(error) === "ENOENT" ? "no such file" : errorMessage(error);
    return {
      file,
      value: undefined,
      locations: new Map(),
      issues: [fileIssue(file, { message: `Cannot read "${file}": ${reason}` })],
      isBroken: true,
    };
  }
  return parseYamlText(text, file);
}

/** Parses YAML text into a document with the location of every key and value. */
export function parseYamlText(text: string, file: string): ConfigDocument {
  const lineCounter = new LineCounter();
  const yamlDocument = parseDocument(text, {
    lineCounter,
    prettyErrors: true,
    uniqueKeys: true,
    strict: true,
  });
  const document: ConfigDocument = {
    file,
    value: undefined,
    locations: new Map(),
    issues: [],
    isBroken: false,
  };
  const positionOf = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  for (const error of yamlDocument.errors) {
    const position = error.linePos?.[0];
    document.issues.push({
      severity: "error",
      file,
      line: position?.line ?? 1,
      column: position?.col ?? 1,
      path: "",
      message: `YAML syntax error: ${yamlMessage(error.message)}`,
    });
  }
  for (const warning of yamlDocument.warnings) {
    const position = warning.linePos?.[0];
    document.issues.push({
      severity: "warning",
      file,
      line: position?.line ?? 1,
      column: position?.col ?? 1,
      path: "",
      message: yamlMessage(warning.message),
    });
  }
  if (yamlDocument.errors.length > 0) {
    document.isBroken = true;
    return document;
  }
  document.value = convertNodes(yamlDocument, document, positionOf);
  if (yamlDocument.contents) {
    document.locations.set(pathKey([]), { value: positionOf(yamlDocument.contents.range[0]) });
  }
  return document;
}

/** Returns the first line of a yaml library message without its " at line N, column M" suffix. */
function yamlMessage(message: string): string {
  const firstLine = message.split("\n")[0] ?? message;
  return firstLine.replace(/ at line \d+, column \d+:?$/, "");
}

/** Turns YAML nodes into plain values, recording locations and refusing alias bombs and cycles. */
function convertNodes(
  yamlDocument: Document,
  document: ConfigDocument,
  positionOf: (offset: number) => Position,
): unknown {
  let nodeCount = 0;
  let hasReportedBomb = false;
  const inProgress = new Set<Node>();
  return convert(yamlDocument.contents, []);

  /** Converts one node into a plain value. */
  function convert(node: unknown, path: (string | number)[]): unknown {
    if (++nodeCount > maximumNodes) {
      if (!hasReportedBomb) {
        hasReportedBomb = true;
        report(node, path, "the file expands to too many values (an alias bomb?)");
      }
      return null;
    }
    if (isAlias(node)) {
      const target = node.resolve(yamlDocument);
      if (!target) return null;
      if (inProgress.has(target)) {
        report(node, path, `alias *${node.source} refers to a value that contains it`);
        return null;
      }
      return convert(target, path);
    }
    if (isMap(node)) {
      inProgress.add(node);
      const result: Record<string, unknown> = {};
      for (const pair of node.items) {
        if (
          !isScalar(pair.key) ||
          (typeof pair.key.value !== "string" && typeof pair.key.value !== "number")
        ) {
          report(pair.key, path, "keys must be plain text");
          continue;
        }
        const key = String(pair.key.value);
        const keyPosition = positionOf(pair.key.range?.[0] ?? 0);
        const valueNode = pair.value as Node | null;
        const valuePosition = valueNode?.range ? positionOf(valueNode.range[0]) : keyPosition;
        document.locations.set(pathKey([...path, key]), { key: keyPosition, value: valuePosition });
        result[key] = valueNode ? convert(valueNode, [...path, key]) : null;
      }
      inProgress.delete(node);
      return result;
    }
    if (isSeq(node)) {
      inProgress.add(node);
      const result = node.items.map((item, index) => {
        const itemNode = item as Node | null;
        if (itemNode?.range) {
          document.locations.set(pathKey([...path, index]), { value: positionOf(itemNode.range[0]) });
        }
        return convert(itemNode, [...path, index]);
      });
      inProgress.delete(node);
      return result;
    }
    if (isScalar(node)) return node.value ?? null;
    return null;
  }

  /** Records a problem at a node (or at the path when the node has no range). */
  function report(node: unknown, path: KeyPath, message: string): void {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    const position = range ? positionOf(range[0]) : locate(document, path);
    document.issues.push({
      severity: "error",
      file: document.file,
      line: position.line,
      column: position.column,
      path: formatKeyPath(path),
      message,
    });
    document.isBroken = true;
  }
}

/** Returns a copy without keys whose value is empty (`key:` or `key: null`): an empty value means "not set", as in the original. */
export function withoutEmptyValues(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => withoutEmptyValues(item));
  if (typeof value !== "object" || value === null) return value;
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== null) result[key] = withoutEmptyValues(item);
  }
  return result;
}
