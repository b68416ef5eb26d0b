// The original's shell-style common_config, read as plain `KEY="value"` assignments and NEVER run:
// known variables are mapped to their common_config.yml keys with a warning naming the replacement.

import { readFileSync } from "node:fs";
import { errnoCode, errorMessage } from "../lib/errors.ts";
import { type ConfigDocument, fileIssue, pathKey } from "./document.ts";
import { type ConfigIssue, formatKeyPath } from "./issues.ts";

/** Where a legacy variable goes in common_config.yml, and how its text becomes a value. */
interface LegacyVariable {
  path?: string[];
  kind?: "text" | "integer" | "sendmail";
  /** Why a variable with no path is not needed any more. */
  reason?: string;
}

/** The original's variables and their YAML keys. */
export const legacyVariables: Readonly<Record<string, LegacyVariable>> = {
  DEFAULT_ADMIN_EMAIL: { path: ["admin_email"] },
  DEFAULT_KEEP_DAYS: { path: ["keep_days"], kind: "integer" },
  DEFAULT_PLUGIN_DIR: { path: ["plugin_dir"] },
  DEFAULT_MIN_FREE_SPACE_MB: { path: ["min_free_space_mb"], kind: "integer" },
  EMAIL_SUBJECT_PREFIX: { path: ["email_subject_prefix"] },
  LOG_LEVEL: { path: ["log_level"], kind: "integer" },
  LOG_LEVEL_COMMON: { path: ["log_level"], kind: "integer" },
  TAR_CMD: { path: ["tools", "tar_cmd"] },
  GZIP_CMD: { path: ["tools", "gzip_cmd"] },
  RSYNC_CMD: { path: ["tools", "rsync_cmd"] },
  DOCKER_CMD: { path: ["tools", "docker_cmd"] },
  DOCKER_COMMAND: { path: ["tools", "docker_cmd"] },
  RESTIC_CMD: { path: ["tools", "restic_cmd"] },
  PG_DUMP_CMD: { path: ["tools", "pg_dump_cmd"] },
  MYSQL_DUMP_CMD: { path: ["tools", "mysqldump_cmd"] },
  INFLUX_CMD: { path: ["tools", "influx_cmd"] },
  MSMTP_CMD: { path: ["mail", "sendmail_path"], kind: "sendmail" },
  YQ_CMD: { reason: "backupctl reads YAML itself" },
  JQ_CMD: { reason: "backupctl reads JSON itself" },
  SSH_CMD: { reason: "backupctl speaks SSH itself" },
  SCP_CMD: { reason: "backupctl fetches archives over SFTP itself" },
};

const namePattern = "[A-Za-z_][A-Za-z0-9_]*";
// KEY=value, optionally after export/readonly/declare
const assignmentExpression = new RegExp(
  `^(?:(?:export|readonly|declare(?:\\s+-\\w+)*)\\s+)?(${namePattern})=(.*)$`,
);
// : "${KEY:=value}" or : ${KEY:=value} — the original's "keep any existing value" form
const defaultingExpression = new RegExp(`^:\\s+(["']?)\\$\\{(${namePattern}):?=(.*)\\}\\1$`);
// KEY="${KEY:-value}" inside an assignment, the other defaulting form
const selfDefaultExpression = new RegExp(`^\\$\\{(${namePattern}):?[-=](.*)\\}$`);

/** The result of reading one assignment's right-hand side. */
type ParsedValue = { value: string } | { problem: string };

/** Strips the quoting of an assignment's value; anything the shell would expand is refused. */
function parseShellValue(raw: string): ParsedValue {
  let text = raw.trim();
  // a trailing comment after whitespace, outside quotes
  const commentMatch = /^("[^"]*"|'[^']*'|[^\s#]*)\s+#.*$/.exec(text);
  if (commentMatch) text = commentMatch[1] as string;
  if (text.startsWith("'")) {
    if (!/^'[^']*'$/.test(text)) return { problem: "its quoting is not a single '…' string" };
    return { value: text.slice(1, -1) };
  }
  if (text.startsWith('"')) {
    if (!/^"([^"\\]|\\.)*"$/.test(text)) return { problem: 'its quoting is not a single "…" string' };
    text = text.slice(1, -1);
  } else if (/[\s;&|<>()]/.test(text)) {
    return { problem: "it is not a single word" };
  }
  if (/[`$]/.test(text)) {
    const selfDefault = selfDefaultExpression.exec(text);
    if (selfDefault && !/[`$]/.test(selfDefault[2] as string))
      return { value: unquote(selfDefault[2] as string) };
    return { problem: "it uses shell expansion ($ or `), which is never run" };
  }
  return { value: text.replace(/\\(.)/g, "$1") };
}

/** Removes one level of surrounding quotes. */
function unquote(text: string): string {
  const match = /^(["'])(.*)\1$/.exec(text);
  return match ? (match[2] as string) : text;
}

/** Converts a variable's text to the value its YAML key takes. */
function convertValue(text: string, variable: LegacyVariable): unknown {
  if (variable.kind === "integer" && /^\d+$/.test(text)) return Number(text);
  if (variable.kind === "sendmail") {
    const program = text.trim().split(/\s+/)[0] ?? "";
    return program.startsWith("/") ? program : `/usr/bin/${program}`;
  }
  return text;
}

/** Sets a value at a path of nested mappings, creating them. */
function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let current = target;
  for (const key of keys.slice(0, -1)) {
    const next = current[key];
    if (typeof next !== "object" || next === null) current[key] = {};
    current = current[key] as Record<string, unknown>;
  }
  current[keys[keys.length - 1] as string] = value;
}

/** Reads a legacy shell common_config as a config document (its value in common_config.yml form). */
export function readLegacyCommonConfig(file: string): ConfigDocument {
  const document: ConfigDocument = { file, value: {}, locations: new Map(), issues: [], isBroken: false };
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const reason = errnoCode(error) === "ENOENT" ? "no such file" : errorMessage(error);
    document.issues.push(fileIssue(file, { message: `Cannot read "${file}": ${reason}` }));
    document.isBroken = true;
    return document;
  }
  document.issues.push(
    fileIssue(file, {
      severity: "warning",
      message: "the shell-style common_config is read as plain assignments and never run",
      hint: "write common_config.yml instead, then remove common_config",
    }),
  );
  const value = document.value as Record<string, unknown>;
  text.split("\n").forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) return;
    const issue = readLine(line, index + 1);
    if (issue) document.issues.push({ file, line: index + 1, column: 1, ...issue });
  });
  return document;

  /** Reads one line into the value; returns a warning for anything that is not a known assignment. */
  function readLine(
    line: string,
    lineNumber: number,
  ): Omit<ConfigIssue, "file" | "line" | "column"> | undefined {
    const defaulting = defaultingExpression.exec(line);
    const assignment = defaulting ? undefined : assignmentExpression.exec(line);
    const name = defaulting?.[2] ?? assignment?.[1];
    if (name === undefined) {
      return {
        severity: "warning",
        path: "",
        message: `line ${lineNumber} is not a plain assignment and is ignored (it is never run): ${shorten(line)}`,
      };
    }
    const variable = legacyVariables[name];
    if (!variable) {
      return { severity: "warning", path: name, message: `unknown variable ${name} is ignored` };
    }
    if (!variable.path) {
      return {
        severity: "warning",
        path: name,
        message: `${name} is no longer used and is ignored: ${variable.reason ?? "it has no effect"}`,
      };
    }
    const parsed = defaulting
      ? { value: unquote(defaulting[3] as string) }
      : parseShellValue(assignment?.[2] ?? "");
    const yamlKey = formatKeyPath(variable.path);
    if ("problem" in parsed) {
      return {
        severity: "warning",
        path: name,
        message: `${name} is ignored: ${parsed.problem}`,
        hint: `set ${yamlKey} in common_config.yml`,
      };
    }
    setPath(value, variable.path, convertValue(parsed.value, variable));
    const position = { file, line: lineNumber, column: 1 };
    document.locations.set(pathKey(variable.path), { key: position, value: position });
    return {
      severity: "warning",
      path: name,
      message: `${name} comes from the legacy shell config`,
      hint: `write ${yamlKey} in common_config.yml instead`,
    };
  }
}

/** Shortens a line for a message. */
function shorten(line: string): string {
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}
