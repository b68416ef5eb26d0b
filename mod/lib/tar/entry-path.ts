// Normalisation and validation of archive member names for the server's extractor (and the client's
// read-back check, which refuses what the extractor would). Names are handled as latin1 strings (one
// char per byte), so every byte survives and the result can be turned back into the exact bytes for
// a Buffer path; a name is never decoded as UTF-8.

/** Caps on names, set from the unpack options. */
export interface PathLimits {
  maxDepth: number;
  maxPathBytes: number;
}

/**
 * The caps of the server's unpack: deeper or longer names are refused (4000 bytes leave room for the
 * target directory below PATH_MAX). The client's read-back check applies the same.
 */
export const defaultPathLimits: PathLimits = { maxDepth: 512, maxPathBytes: 4000 };

/** A validated name relative to the target directory. */
export interface EntryPath {
  /** The components joined by "/", one char per byte; "" for the archive root ("./"). */
  key: string;
  /** The key of the parent directory ("" for the target directory itself). */
  parentKey: string;
  depth: number;
}

// Linux NAME_MAX: a longer component fails in the kernel anyway, but with a less clear error
const maxComponentBytes = 255;

/** Normalises a raw member name. Returns the path, or why the name is refused. */
export function normalizeEntryPath(raw: string, limits: PathLimits): EntryPath | { problem: string } {
  if (raw.length === 0) return { problem: "the name is empty" };
  if (raw.includes("\0")) return { problem: "the name contains a NUL byte" };
  // any leading slash: "////tmp/x" is as absolute as "/tmp/x" (CVE-2021-32804)
  if (raw.charCodeAt(0) === 0x2f) return { problem: "the name is an absolute path" };
  const components: string[] = [];
  for (const component of raw.split("/")) {
    // "a//b" and "./a" name the same file as "a/b" and "a" in every tar reader
    if (component === "" || component === ".") continue;
    if (component === "..") return { problem: 'the name contains a ".." component' };
    if (component.length > maxComponentBytes) {
      return {
        problem: `a name component is ${component.length} bytes long (the limit is ${maxComponentBytes})`,
      };
    }
    components.push(component);
  }
  if (components.length > limits.maxDepth) {
    return { problem: `the name is ${components.length} directories deep (the cap is ${limits.maxDepth})` };
  }
  const key = components.join("/");
  if (key.length > limits.maxPathBytes) {
    return { problem: `the name is ${key.length} bytes long (the cap is ${limits.maxPathBytes})` };
  }
  const slash = key.lastIndexOf("/");
  return { key, parentKey: slash === -1 ? "" : key.slice(0, slash), depth: components.length };
}

/** Returns whether the raw name ends with "/" (only a directory may). */
export function hasTrailingSlash(raw: string): boolean {
  return raw.length > 0 && raw.charCodeAt(raw.length - 1) === 0x2f;
}
