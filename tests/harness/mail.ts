// A small MIME reader for the mails the SMTP capture records: headers (unfolded, RFC 2047 words
// decoded), the text and HTML bodies (quoted-printable and base64 undone, charset applied) and
// attachments, through nested multiparts. It reads what nodemailer writes; it is no general mail parser
// (mailparser would be, at the cost of a dozen more packages for the tests).

/** An attachment of a parsed mail. */
export interface MailAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
}

/** What the tests look at in a mail. */
export interface ParsedMail {
  /** Header values by lower-case name, decoded; a repeated header keeps its first value. */
  headers: Map<string, string>;
  subject: string;
  /** The first text/plain part that is not an attachment ("" when there is none). */
  text: string;
  /** The first text/html part that is not an attachment. */
  html?: string;
  attachments: MailAttachment[];
}

/** Parses a raw RFC 5322 message. */
export function parseMail(raw: string | Buffer): ParsedMail {
  // Work on a latin1 string, one char per byte, so bodies can be turned back into exact bytes.
  const bytes = typeof raw === "string" ? Buffer.from(raw, "utf8") : raw;
  const mail: ParsedMail = { headers: new Map(), subject: "", text: "", attachments: [] };
  const { headers } = readPart(bytes.toString("latin1"), mail);
  mail.headers = headers;
  mail.subject = headers.get("subject") ?? "";
  return mail;
}

/** Reads one MIME entity into `mail` (recursing into multiparts) and returns its headers. */
function readPart(entity: string, mail: ParsedMail): { headers: Map<string, string> } {
  const separator = /\r?\n\r?\n/.exec(entity);
  const headerBlock = separator ? entity.slice(0, separator.index) : entity;
  const body = separator ? entity.slice(separator.index + separator[0].length) : "";
  const headers = parseHeaders(headerBlock);
  const contentType = parseParameterized(headers.get("content-type") ?? "text/plain");
  const disposition = parseParameterized(headers.get("content-disposition") ?? "inline");

  if (contentType.value.startsWith("multipart/")) {
    const boundary = contentType.parameters.get("boundary");
    if (boundary) for (const part of splitMultipart(body, boundary)) readPart(part, mail);
    return { headers };
  }
  const content = decodeTransfer(body, headers.get("content-transfer-encoding") ?? "7bit");
  const filename = disposition.parameters.get("filename") ?? contentType.parameters.get("name");
  const isAttachment = disposition.value === "attachment" || filename !== undefined;
  if (isAttachment) {
    mail.attachments.push({ filename: filename ?? "", contentType: contentType.value, content });
  } else if (contentType.value === "text/plain" && mail.text === "") {
    mail.text = decodeCharset(content, contentType.parameters.get("charset"));
  } else if (contentType.value === "text/html" && mail.html === undefined) {
    mail.html = decodeCharset(content, contentType.parameters.get("charset"));
  }
  return { headers };
}

/** Unfolds a header block into a map of lower-case names to decoded values. */
function parseHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    // 8-bit header bytes (SMTPUTF8) are UTF-8.
    const value = Buffer.from(line.slice(colon + 1).trim(), "latin1").toString("utf8");
    if (!headers.has(name)) headers.set(name, decodeEncodedWords(value));
  }
  return headers;
}

/** Decodes RFC 2047 encoded words (=?charset?B|Q?text?=); whitespace between two of them is dropped. */
export function decodeEncodedWords(value: string): string {
  const encodedWord = /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g;
  return value
    .replace(/\?=\s+=\?/g, "?==?")
    .replace(encodedWord, (_, charset: string, encoding: string, text: string) => {
      const bytes =
        encoding.toUpperCase() === "B"
          ? Buffer.from(text, "base64")
          : Buffer.from(
              text
                .replace(/_/g, " ")
                .replace(/=([0-9A-Fa-f]{2})/g, (_match, hex: string) =>
                  String.fromCharCode(Number.parseInt(hex, 16)),
                ),
              "latin1",
            );
      return decodeCharset(bytes, charset.split("*")[0]);
    });
}

/** Parses "value; name=param; name*=utf-8''percent%20encoded" (RFC 2045 and RFC 2231 parameters). */
function parseParameterized(header: string): { value: string; parameters: Map<string, string> } {
  const [value = "", ...rest] = header.split(/;(?=(?:[^"]*"[^"]*")*[^"]*$)/);
  const pieces = new Map<string, { text: string; isEncoded: boolean }[]>();
  for (const parameter of rest) {
    const equals = parameter.indexOf("=");
    if (equals < 0) continue;
    const key = parameter.slice(0, equals).trim().toLowerCase();
    let text = parameter.slice(equals + 1).trim();
    if (text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1).replace(/\\(.)/g, "$1");
    const match = /^([^*]+)(?:\*(\d+))?(\*)?$/.exec(key);
    if (!match?.[1]) continue;
    const list = pieces.get(match[1]) ?? [];
    list[Number(match[2] ?? 0)] = { text, isEncoded: match[3] === "*" };
    pieces.set(match[1], list);
  }
  const parameters = new Map<string, string>();
  for (const [name, list] of pieces) {
    let charset = "utf-8";
    let bytes = "";
    list.forEach((piece, index) => {
      let text = piece.text;
      if (piece.isEncoded && index === 0) {
        const [declared, , encoded = ""] = text.split("'");
        charset = declared || charset;
        text = encoded;
      }
      bytes += piece.isEncoded ? decodePercent(text) : text;
    });
    parameters.set(name, decodeEncodedWords(decodeCharset(Buffer.from(bytes, "latin1"), charset)));
  }
  return { value: value.trim().toLowerCase(), parameters };
}

/** Turns %XX escapes into the bytes they stand for (as latin1 chars). */
function decodePercent(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

/** Splits a multipart body into its parts (preamble and epilogue dropped). */
function splitMultipart(body: string, boundary: string): string[] {
  const parts: string[] = [];
  const delimiter = `--${boundary}`;
  const lines = body.split(/\r?\n/);
  let current: string[] | undefined;
  for (const line of lines) {
    if (line === delimiter || line === `${delimiter}--`) {
      if (current) parts.push(current.join("\r\n"));
      if (line.endsWith("--") && line !== delimiter) return parts;
      current = [];
    } else {
      current?.push(line);
    }
  }
  if (current) parts.push(current.join("\r\n"));
  return parts;
}

/** Undoes a Content-Transfer-Encoding; returns the raw bytes. */
function decodeTransfer(body: string, encoding: string): Buffer {
  switch (encoding.trim().toLowerCase()) {
    case "base64":
      return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ""), "base64");
    case "quoted-printable":
      return Buffer.from(
        body
          .replace(/[ \t]+(\r?\n)/g, "$1")
          .replace(/=\r?\n/g, "")
          .replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
        "latin1",
      );
    default:
      return Buffer.from(body, "latin1");
  }
}

/** Decodes bytes in `charset` (UTF-8 when absent or unknown). */
function decodeCharset(bytes: Buffer, charset = "utf-8"): string {
  try {
    // Bun types TextDecoder's label as a fixed union; unknown labels throw at run time and fall back below.
    const label = charset.trim().toLowerCase() as ConstructorParameters<typeof TextDecoder>[0];
    return new TextDecoder(label).decode(bytes);
  } catch {
    return bytes.toString("utf8");
  }
}
