// A strict reader of the Prometheus text exposition format (0.0.4), for the tests of the status
// textfile: it throws on anything node_exporter's textfile collector would refuse — a bad metric or
// label name, a badly escaped label value, a value that is no float, TYPE after a sample, a family
// split in two, a duplicate series, a missing final newline — and returns the families it read.

/** One metric family as read. */
export interface MetricFamily {
  name: string;
  help?: string;
  type?: string;
  samples: { labels: Record<string, string>; value: number }[];
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const metricTypes = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
const floatValue = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/;

/** Returns the families of a textfile. Throws Error naming the line for anything the format does not allow. */
export function parseExposition(text: string): Map<string, MetricFamily> {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("the file does not end with a newline");
  const families = new Map<string, MetricFamily>();
  const finished = new Set<string>();
  const series = new Set<string>();
  let current: string | undefined;
  const lines = text.split("\n").slice(0, -1);
  /** Returns the family of a name, checking its lines stay together. */
  function familyOf(name: string, lineNumber: number): MetricFamily {
    if (current !== name) {
      if (current !== undefined) finished.add(current);
      if (finished.has(name)) throw new Error(`line ${lineNumber}: family "${name}" appears in two places`);
      current = name;
    }
    let family = families.get(name);
    if (!family) {
      family = { name, samples: [] };
      families.set(name, family);
    }
    return family;
  }
  lines.forEach((line, index) => {
    const lineNumber = index + 1;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (!match) return; // a plain comment
      const [, keyword, name, rest = ""] = match as unknown as [string, string, string, string | undefined];
      if (!metricName.test(name)) throw new Error(`line ${lineNumber}: "${name}" is not a metric name`);
      const family = familyOf(name, lineNumber);
      if (keyword === "HELP") {
        if (family.help !== undefined) throw new Error(`line ${lineNumber}: a second HELP for "${name}"`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, "")))
          throw new Error(`line ${lineNumber}: bad escape in HELP`);
        family.help = rest;
      } else {
        if (family.type !== undefined) throw new Error(`line ${lineNumber}: a second TYPE for "${name}"`);
        if (family.samples.length > 0)
          throw new Error(`line ${lineNumber}: TYPE of "${name}" after its samples`);
        if (!metricTypes.has(rest.trim()))
          throw new Error(`line ${lineNumber}: "${rest}" is not a metric type`);
        family.type = rest.trim();
      }
      return;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+(-?\d+))?\s*$/.exec(line);
    if (!sample) throw new Error(`line ${lineNumber}: not a sample: ${line}`);
    const [, name, labelText, valueText] = sample as unknown as [string, string, string | undefined, string];
    const labels = parseLabels(labelText ?? "", lineNumber);
    if (!floatValue.test(valueText)) throw new Error(`line ${lineNumber}: "${valueText}" is not a float`);
    const family = familyOf(name, lineNumber);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) throw new Error(`line ${lineNumber}: a second sample of the same series`);
    series.add(key);
    family.samples.push({ labels, value: Number(valueText.replace("Inf", "Infinity")) });
  });
  return families;
}

/** Returns the labels of `{a="b",c="d"}`. Throws Error on a bad name, quote or escape. */
function parseLabels(text: string, lineNumber: number): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === "") return labels;
  let position = 1;
  const end = text.length - 1;
  while (position < end) {
    const equals = text.indexOf("=", position);
    const name = text.slice(position, equals).trim();
    if (equals < 0 || !labelName.test(name) || name.startsWith("__")) {
      throw new Error(`line ${lineNumber}: "${name}" is not a label name`);
    }
    if (name in labels) throw new Error(`line ${lineNumber}: label "${name}" twice`);
    if (text[equals + 1] !== '"') throw new Error(`line ${lineNumber}: label "${name}" is not quoted`);
    let value = "";
    let index = equals + 2;
    for (; index < end && text[index] !== '"'; index++) {
      if (text[index] === "\\") {
        const next = text[index + 1];
        if (next === "\\" || next === '"') value += next;
        else if (next === "n") value += "\n";
        else throw new Error(`line ${lineNumber}: bad escape in label "${name}"`);
        index++;
      } else value += text[index];
    }
    if (text[index] !== '"') throw new Error(`line ${lineNumber}: label "${name}" is not closed`);
    labels[name] = value;
    position = index + 1;
    if (text[position] === ",") position++;
    else if (position !== end) throw new Error(`line ${lineNumber}: expected "," after label "${name}"`);
  }
  return labels;
}
