// An SMTP server on 127.0.0.1 that records every mail it receives, so notification tests can assert on the
// real mails backupctl sends. Plain SMTP (no TLS), optionally with AUTH PLAIN/LOGIN.
import { SMTPServer } from "smtp-server";
import { type ParsedMail, parseMail } from "./mail.ts";
import { waitUntil } from "./process.ts";

/** A mail as the capture received it: the envelope, the raw message and its parsed content. */
export interface CapturedMail extends ParsedMail {
  /** Envelope sender (MAIL FROM). */
  from: string;
  /** Envelope recipients (RCPT TO). */
  to: string[];
  /** The message as transmitted (CRLF line ends). */
  raw: string;
  /** The user that authenticated, when AUTH was used. */
  authenticatedUser?: string;
}

/** Options of `startSmtp`. */
export interface SmtpOptions {
  /** Require AUTH with these credentials; without it, AUTH is not offered and mail is accepted from anyone. */
  auth?: { user: string; password: string };
}

/** A running capture server. */
export interface SmtpHandle {
  host: "127.0.0.1";
  port: number;
  /** Every mail received so far, in order. */
  messages: CapturedMail[];
  /** Milliseconds from the call to a listening server. */
  startupMs: number;
  /** Resolves with the first `count` mails once that many arrived. Throws after `timeoutMs` (default 10 s). */
  waitForMessages(count: number, timeoutMs?: number): Promise<CapturedMail[]>;
  /** Closes the server; idempotent. */
  stop(): Promise<void>;
}

/** Starts the capture on a port the OS picks. */
export async function startSmtp(options: SmtpOptions = {}): Promise<SmtpHandle> {
  const startedAt = performance.now();
  const messages: CapturedMail[] = [];
  const credentials = options.auth;
  const server = new SMTPServer({
    secure: false,
    authOptional: !credentials,
    allowInsecureAuth: true,
    disabledCommands: credentials ? ["STARTTLS"] : ["STARTTLS", "AUTH"],
    logger: false,
    // Connections left open by a client must not hold stop() up for the default 30 s.
    closeTimeout: 1_000,
    onAuth(auth, _session, callback) {
      if (credentials && auth.username === credentials.user && auth.password === credentials.password) {
        callback(null, { user: auth.username });
      } else {
        callback(new Error("Invalid username or password"));
      }
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", callback);
      stream.on("end", () => {
        const bytes = Buffer.concat(chunks);
        const envelopeFrom = session.envelope.mailFrom;
        messages.push({
          ...parseMail(bytes),
          from: envelopeFrom ? envelopeFrom.address : "",
          to: session.envelope.rcptTo.map((recipient) => recipient.address),
          raw: bytes.toString("utf8"),
          authenticatedUser: typeof session.user === "string" ? session.user : undefined,
        });
        callback();
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.server.address();
      if (typeof address === "object" && address) resolve(address.port);
      else reject(new Error("The SMTP capture got no port"));
    });
  });
  // Protocol errors of a client are the test's business, not a crash of the runner.
  server.on("error", () => {});

  let stopping: Promise<void> | undefined;
  return {
    host: "127.0.0.1",
    port,
    messages,
    startupMs: Math.round(performance.now() - startedAt),
    async waitForMessages(count: number, timeoutMs = 10_000) {
      await waitUntil(() => messages.length >= count, {
        description: `${count} mail(s) at the SMTP capture on port ${port}`,
        timeoutMs,
      }).catch((error: Error) => {
        throw new Error(`${error.message}; received ${messages.length}`);
      });
      return messages.slice(0, count);
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return stopping;
    },
  };
}
