// Byte sizes as operators write them in configs ("500M", "2G", "1T", or plain bytes), for caps such
// as the largest archive the server unpacks. Units are binary (1K = 1024), as in du, df and restic.

const unitBytes: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

const sizeExpression = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/;

/** Returns the bytes of a size ("500M", "1.5G", 1024), or undefined when it is not one. */
export function tryParseByteSize(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = sizeExpression.exec(value.trim().toLowerCase());
  if (!match) return undefined;
  const bytes = Math.floor(Number(match[1]) * (unitBytes[match[2] ?? ""] ?? 1));
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Returns a byte count for people: 1.5 GiB, 20.0 MiB, 512 B. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
