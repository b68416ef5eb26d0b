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

/** Formats bytes with the largest binary unit that keeps at least one whole unit: 1536 → "1.5K". */
export function formatByteSize(bytes: number): string {
  const units = ["P", "T", "G", "M", "K"];
  for (const unit of units) {
    const size = unitBytes[unit.toLowerCase()] ?? 1;
    if (bytes >= size) return `${Math.round((bytes / size) * 10) / 10}${unit}`;
  }
  return `${bytes}B`;
}
