// Time as backupctl writes it: the UTC archive timestamp in every archive name and snapshot tag
// (`YYYYMMDD_HHMMSS`), and the short ages and durations operators read in logs and status tables.

/** The archive timestamp as a regular-expression source, for building archive-name patterns. */
export const archiveTimestampPattern = "\\d{8}_\\d{6}";

const archiveTimestampExpression = /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})$/;

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;
const day = 24 * hour;

/** Returns the UTC archive timestamp of a date, "YYYYMMDD_HHMMSS". Throws RangeError when the date is invalid. */
export function formatArchiveTimestamp(date: Date): string {
  if (Number.isNaN(date.getTime()))
    throw new RangeError("Cannot format an invalid date as an archive timestamp");
  const pad = (value: number, width = 2) => String(value).padStart(width, "0");
  const datePart = `${pad(date.getUTCFullYear(), 4)}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}`;
  const timePart = `${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}`;
  return `${datePart}_${timePart}`;
}

/** Returns the UTC date of an archive timestamp, or undefined unless it is exactly a real date and time. */
export function parseArchiveTimestamp(text: string): Date | undefined {
  const match = archiveTimestampExpression.exec(text);
  if (!match) return undefined;
  const [year, month, dayOfMonth, hours, minutes, seconds] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, month - 1, dayOfMonth, hours, minutes, seconds));
  // Date.UTC rolls 20261332 over into 2027; a timestamp that does not round-trip named no real moment
  if (formatArchiveTimestamp(date) !== text) return undefined;
  return date;
}

/** Returns an age as its two largest units: "45s", "5m 3s", "3h 12m", "2d 4h". */
export function formatAge(milliseconds: number): string {
  if (milliseconds < 0) return `-${formatAge(-milliseconds)}`;
  const units: [number, string][] = [
    [day, "d"],
    [hour, "h"],
    [minute, "m"],
    [second, "s"],
  ];
  for (const [index, [size, suffix]] of units.entries()) {
    if (milliseconds < size && index < units.length - 1) continue;
    const whole = Math.floor(milliseconds / size);
    const next = units[index + 1];
    if (!next) return `${whole}${suffix}`;
    const rest = Math.floor((milliseconds % size) / next[0]);
    return rest === 0 ? `${whole}${suffix}` : `${whole}${suffix} ${rest}${next[1]}`;
  }
  return "0s";
}

/** Returns a duration for logs and messages: "0.25s", "12.3s" under a minute, else as formatAge. */
export function formatDuration(milliseconds: number): string {
  if (milliseconds < 0) return `-${formatDuration(-milliseconds)}`;
  if (milliseconds >= minute) return formatAge(milliseconds);
  const precision = milliseconds < second ? 100 : 10;
  return `${Math.round((milliseconds / second) * precision) / precision}s`;
}

/** Waits ms milliseconds; rejects with the signal's reason as soon as it aborts. */
export function sleep(milliseconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, milliseconds);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
