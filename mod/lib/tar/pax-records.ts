// PAX extended header records ("<length> <key>=<value>\n", POSIX.1-2001) for the streaming tar
// parser. Values stay raw bytes: a path is never decoded as UTF-8, so non-UTF-8 names survive.
// Strict: a malformed record, a repeated key or a GNU sparse key fails the archive.

import { copyBytes, latin1 } from "./header.ts";

/** The records of one extended header: key → raw value bytes (an empty value unsets the key). */
export type PaxRecords = Map<string, Uint8Array>;

/** The PAX keys the extractor applies; all others (atime, ctime, SCHILY.*, comment, …) are ignored. */
export const appliedPaxKeys = ["path", "linkpath", "size", "mtime", "uid", "gid", "uname", "gname"] as const;

/** Parses the data of an 'x' or 'g' header. Returns the records or a description of the defect. */
export function parsePaxRecords(data: Uint8Array): PaxRecords | { problem: string } {
  const records: PaxRecords = new Map();
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space === -1 || space === offset || space - offset > 12) {
      return { problem: `malformed PAX record at byte ${offset}` };
    }
    const lengthText = latin1(data.subarray(offset, space));
    if (!/^[1-9][0-9]*$/.test(lengthText))
      return { problem: `malformed PAX record length at byte ${offset}` };
    const length = Number(lengthText);
    const end = offset + length;
    if (end > data.length || data[end - 1] !== 0x0a) {
      return { problem: `PAX record at byte ${offset} overruns its header or lacks its newline` };
    }
    const record = data.subarray(space + 1, end - 1);
    const equals = record.indexOf(0x3d);
    if (equals <= 0) return { problem: `PAX record at byte ${offset} has no key` };
    const key = latin1(record.subarray(0, equals));
    if (key.startsWith("GNU.sparse.")) return { problem: "GNU sparse files are not supported" };
    // a repeated key is legal for some writers but readers disagree on which one wins
    if (records.has(key)) return { problem: `PAX key "${escapeText(key)}" appears twice in one header` };
    records.set(key, copyBytes(record.subarray(equals + 1)));
    offset = end;
  }
  return records;
}

/** Parses a PAX decimal integer value (size, uid, gid). Returns undefined when malformed. */
export function paxInteger(value: Uint8Array): number | undefined {
  const text = latin1(value);
  if (!/^[0-9]{1,16}$/.test(text)) return undefined;
  const result = Number(text);
  return Number.isSafeInteger(result) ? result : undefined;
}

/** Parses a PAX time value ("1700000000", "-5", "1700000000.123456789") into seconds. */
export function paxTime(value: Uint8Array): number | undefined {
  const text = latin1(value);
  if (!/^-?[0-9]{1,15}(\.[0-9]{1,9})?$/.test(text)) return undefined;
  return Number(text);
}

// names in messages are clipped: a hostile 4000-byte name would otherwise fill the log and the mail
const maxShownChars = 200;

/** Escapes a string for an error message: printable ASCII stays, everything else becomes \xNN; long ones are clipped. */
export function escapeText(text: string): string {
  let result = "";
  const shown = Math.min(text.length, maxShownChars);
  for (let index = 0; index < shown; index++) {
    const code = text.charCodeAt(index);
    if (code === 0x5c) result += "\\\\";
    else if (code === 0x22) result += '\\"';
    else if (code >= 0x20 && code < 0x7f) result += text[index];
    else result += `\\x${code.toString(16).padStart(2, "0")}`;
  }
  return shown < text.length ? `${result}…(${text.length} bytes)` : result;
}
