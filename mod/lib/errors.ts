// The one error type of backupctl: a code that maps to an exit status, a message that names the
// failed action and the reason, and a hint that says how to fix it. Only main.ts turns it into an exit.

/** Exit statuses of every command (DESIGN §5). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  partial: 3,
  locked: 75,
  interrupted: 130,
  terminated: 143,
} as const;

export type ExitCodeName = keyof typeof ExitCode;

/** A failure a user can meet: what failed, why, and how to fix it. */
export class BackupError extends Error {
  readonly code: ExitCodeName;
  readonly hint: string | undefined;

  constructor(message: string, options: { code?: ExitCodeName; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BackupError";
    this.code = options.code ?? "failed";
    this.hint = options.hint;
  }

  /** The exit status this error maps to. */
  get exitCode(): number {
    return ExitCode[this.code];
  }
}

/** Returns the message of any thrown value, for logs and mails. */
export function errorMessage(error: unknown): string {
  if (error instanceof BackupError && error.hint) return `${error.message} (${error.hint})`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Returns the errno code ("ENOENT", …) of a Node/Bun system error, or undefined. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}
