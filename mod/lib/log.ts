// The logger: the only writer to stderr. Lines are `2026-11-26T17:00:00Z INFO  [scope] message`;
// under systemd (JOURNAL_STREAM set) the timestamp is dropped and a `<N>` priority prefix added so
// the journal keeps levels. Registered secrets are replaced by "***" in every line.

export const logLevels = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof logLevels)[number];

const levelRank: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
// syslog priorities understood by journald's stream protocol (sd-daemon.h)
const journalPriority: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };

/** One formatted log record, kept so a run can mail its log tail. */
export interface LogRecord {
  time: Date;
  level: LogLevel;
  scope: string;
  message: string;
}

/** Where log lines go; tests swap it to capture output. */
export interface LogSink {
  write(line: string): void;
}

const stderrSink: LogSink = {
  write(line) {
    process.stderr.write(line);
  },
};

/** Process-wide logger settings shared by every scoped logger. */
class LogState {
  level: LogLevel = "info";
  sink: LogSink = stderrSink;
  isJournal = Boolean(process.env.JOURNAL_STREAM);
  secrets = new Set<string>();
  history: LogRecord[] = [];
  historyLimit = 2000;
}

const state = new LogState();

/** Sets the minimum level that is written. */
export function setLogLevel(level: LogLevel): void {
  state.level = level;
}

/** Returns the current minimum level. */
export function getLogLevel(): LogLevel {
  return state.level;
}

/** Replaces where lines are written (tests) and whether journald format is used. */
export function setLogSink(sink: LogSink | undefined, options: { isJournal?: boolean } = {}): void {
  state.sink = sink ?? stderrSink;
  state.isJournal = options.isJournal ?? Boolean(process.env.JOURNAL_STREAM);
}

/** Registers a secret value: it is replaced by "***" in every later log line. */
export function registerSecret(value: string): void {
  const trimmed = value.trim();
  // very short values would blank out ordinary words in the log
  if (trimmed.length >= 4) state.secrets.add(trimmed);
}

/** Replaces every registered secret in text by "***". */
export function redact(text: string): string {
  let result = text;
  for (const secret of state.secrets) result = result.split(secret).join("***");
  return result;
}

/** Returns the last logged records (for failure mails), oldest first. */
export function logHistory(limit = 200): LogRecord[] {
  return state.history.slice(-limit);
}

/** Formats one record as a log line (without the trailing newline). */
export function formatLogLine(record: LogRecord, isJournal: boolean): string {
  const level = record.level.toUpperCase().padEnd(5);
  const scope = record.scope ? ` [${record.scope}]` : "";
  if (isJournal) return `<${journalPriority[record.level]}>${level}${scope} ${record.message}`;
  const time = `${record.time.toISOString().slice(0, 19)}Z`;
  return `${time} ${level}${scope} ${record.message}`;
}

/** A logger bound to a scope such as "client:web/postgresql" or "server:web01". */
export class Logger {
  readonly scope: string;

  constructor(scope = "") {
    this.scope = scope;
  }

  /** Returns a logger whose scope extends this one ("client" → "client:web"). */
  child(scope: string): Logger {
    if (!this.scope) return new Logger(scope);
    const separator = this.scope.includes(":") ? "/" : ":";
    return new Logger(`${this.scope}${separator}${scope}`);
  }

  error(message: string): void {
    this.write("error", message);
  }

  warn(message: string): void {
    this.write("warn", message);
  }

  info(message: string): void {
    this.write("info", message);
  }

  debug(message: string): void {
    this.write("debug", message);
  }

  /** Returns whether a message of this level would be written. */
  isEnabled(level: LogLevel): boolean {
    return levelRank[level] <= levelRank[state.level];
  }

  private write(level: LogLevel, message: string): void {
    const record: LogRecord = { time: new Date(), level, scope: this.scope, message: redact(message) };
    state.history.push(record);
    if (state.history.length > state.historyLimit)
      state.history.splice(0, state.history.length - state.historyLimit);
    if (!this.isEnabled(level)) return;
    for (const line of record.message.split("\n")) {
      state.sink.write(`${formatLogLine({ ...record, message: line }, state.isJournal)}\n`);
    }
  }
}

/** The root logger. */
export const log = new Logger();
