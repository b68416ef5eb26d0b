// Did-you-mean hints for misspelt keys and values ("exlcude" → "exclude"), by edit distance.

/** Returns the Levenshtein edit distance between two strings. */
export function editDistance(left: string, right: string): number {
  let previous = Array.from({ length: right.length + 1 }, (_, index) => index);
  for (let row = 1; row <= left.length; row++) {
    const current = [row];
    for (let column = 1; column <= right.length; column++) {
      const substitution = (previous[column - 1] ?? 0) + (left[row - 1] === right[column - 1] ? 0 : 1);
      current[column] = Math.min((previous[column] ?? 0) + 1, (current[column - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[right.length] ?? 0;
}

/** Returns the candidate closest to a misspelt word, or undefined when none is close enough. */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const lowered = word.toLowerCase();
  // a third of the word's length, at least 1 and at most 3 edits: close enough to be a typo
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const candidateLowered = candidate.toLowerCase();
    // a key written without its suffix or prefix ("pg_dump" for "pg_dump_cmd") is as good as a typo
    const isAffixed =
      Math.min(lowered.length, candidateLowered.length) >= 4 &&
      (candidateLowered.startsWith(lowered) || lowered.startsWith(candidateLowered));
    const distance = isAffixed ? 1 : editDistance(lowered, candidateLowered);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** Returns a `did you mean "x"?` hint for a misspelt word, or undefined. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const match = closestMatch(word, candidates);
  return match === undefined ? undefined : `did you mean "${match}"?`;
}
