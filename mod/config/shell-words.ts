// Option strings from configs (`dump_options`, `backup_options`, …) split into argv words with the
// quoting rules of a POSIX shell, without ever running one: no expansion, no globbing, no commands.

import { BackupError } from "../lib/errors.ts";

/** Splits text into words like sh does for quoting: "--exclude 'a b'" → ["--exclude", "a b"]. Throws BackupError (usage) when a quote is not closed or the text ends in a lone backslash. */
export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let hasWord = false;
  let index = 0;
  while (index < text.length) {
    const character = text[index] as string;
    if (character === " " || character === "\t" || character === "\n" || character === "\r") {
      if (hasWord) words.push(word);
      word = "";
      hasWord = false;
      index++;
    } else if (character === "'") {
      const end = text.indexOf("'", index + 1);
      if (end < 0) throw unclosed(text, "'");
      word += text.slice(index + 1, end);
      hasWord = true;
      index = end + 1;
    } else if (character === '"') {
      index++;
      let closed = false;
      while (index < text.length) {
        const inner = text[index] as string;
        if (inner === '"') {
          closed = true;
          index++;
          break;
        }
        // inside double quotes a backslash escapes only these, as in sh
        if (inner === "\\" && index + 1 < text.length && '"\\$`\n'.includes(text[index + 1] as string)) {
          if (text[index + 1] !== "\n") word += text[index + 1];
          index += 2;
          continue;
        }
        word += inner;
        index++;
      }
      if (!closed) throw unclosed(text, '"');
      hasWord = true;
    } else if (character === "\\") {
      if (index + 1 >= text.length) {
        throw new BackupError(`Cannot split "${text}" into words: it ends with a lone backslash`, {
          code: "usage",
          hint: "remove the trailing backslash or quote it",
        });
      }
      // backslash-newline is a line continuation, as in sh
      if (text[index + 1] !== "\n") word += text[index + 1];
      hasWord = true;
      index += 2;
    } else {
      word += character;
      hasWord = true;
      index++;
    }
  }
  if (hasWord) words.push(word);
  return words;
}

/** Builds the error for a quote that is never closed. */
function unclosed(text: string, quote: string): BackupError {
  return new BackupError(`Cannot split "${text}" into words: a ${quote} quote is not closed`, {
    code: "usage",
    hint: "close the quote, or write the option as a YAML list",
  });
}
