// Durations as operators write them in configs ("90s", "30m", "26h", "2d", "1w", or plain seconds),
// parsed to milliseconds for the code and formatted back for messages and example configs.

import { BackupError } from "./errors.ts";

const unitMilliseconds = {
  ms: 1,
  s: 1000,
  m: 60 * 1000,
  h: 60 * 60 * 1000,
  d: 24 * 60 * 60 * 1000,
  w: 7 * 24 * 60 * 60 * 1000,
} as const;

type DurationUnit = keyof typeof unitMilliseconds;

// one or more "<number><unit>" parts ("1h30m"), or a bare number of seconds
const durationPartExpression = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/y;
const bareSecondsExpression = /^\d+(?:\.\d+)?$/;

/** Returns the milliseconds of a duration, or undefined when the text is not one. */
export function tryParseDuration(value: string | number): number | undefined {
  if (typeof value === "number") {
    return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  }
  const text = value.trim().toLowerCase();
  if (text === "") return undefined;
  if (bareSecondsExpression.test(text)) return Math.round(Number(text) * 1000);
  let total = 0;
  let position = 0;
  for (;;) {
    while (text[position] === " ") position++;
    if (position >= text.length) break;
    durationPartExpression.lastIndex = position;
    const match = durationPartExpression.exec(text);
    if (!match) return undefined;
    total += Number(match[1]) * unitMilliseconds[match[2] as DurationUnit];
    position = durationPartExpression.lastIndex;
  }
  return Math.round(total);
}

/** Returns the milliseconds of a duration. Throws BackupError (usage) when the text is not a duration. */
export function parseDuration(value: string | number): number {
  const milliseconds = tryParseDuration(value);
  if (milliseconds === undefined) {
    throw new BackupError(`Cannot read duration "${value}": expected seconds or a number with a unit`, {
      code: "usage",
      hint: "write it like 90s, 30m, 26h, 2d or 1w",
    });
  }
  return milliseconds;
}

/** Formats milliseconds in the config notation, largest units first: 93600000 → "1d2h". */
export function formatConfigDuration(milliseconds: number): string {
  if (milliseconds === 0) return "0s";
  const units: DurationUnit[] = ["w", "d", "h", "m", "s", "ms"];
  let rest = Math.abs(Math.round(milliseconds));
  let text = milliseconds < 0 ? "-" : "";
  for (const unit of units) {
    const size = unitMilliseconds[unit];
    const count = Math.floor(rest / size);
    if (count > 0) {
      text += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return text;
}
