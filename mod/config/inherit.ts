// Inheritance of common_config.yml's values by client_config.yml and server_config.yml's `global`:
// what the job file leaves out is copied in before validation, keeping the common file's positions.

import { inheritedCommonKeys } from "./common.ts";
import { type ConfigDocument, isMapping, pathKey, valueAt } from "./document.ts";
import type { KeyPath } from "./issues.ts";

/** Copies what the common config sets and the target leaves out, keeping the common file's positions. */
export function inheritCommonValues(
  target: ConfigDocument,
  common: ConfigDocument,
  targetPrefix: KeyPath,
): void {
  if (!isMapping(common.value)) return;
  const targetRoot = targetPrefix.length === 0 ? target.value : valueAt(target.value, targetPrefix);
  if (!isMapping(targetRoot)) return;
  for (const key of inheritedCommonKeys) {
    mergeMissing(targetRoot, common.value, key, [...targetPrefix], [], target, common);
  }
}

/** Sets target[key] from source[key] where the target has nothing, descending into mappings. */
function mergeMissing(
  target: Record<string, unknown>,
  source: Record<string, unknown>,
  key: string,
  targetPath: KeyPath,
  sourcePath: KeyPath,
  targetDocument: ConfigDocument,
  sourceDocument: ConfigDocument,
): void {
  const sourceValue = source[key];
  if (sourceValue === undefined) return;
  const targetValue = target[key];
  if (targetValue === undefined) {
    target[key] = structuredClone(sourceValue);
    copyLocations(sourceDocument, [...sourcePath, key], targetDocument, [...targetPath, key]);
    return;
  }
  if (isMapping(targetValue) && isMapping(sourceValue)) {
    for (const innerKey of Object.keys(sourceValue)) {
      mergeMissing(
        targetValue,
        sourceValue,
        innerKey,
        [...targetPath, key],
        [...sourcePath, key],
        targetDocument,
        sourceDocument,
      );
    }
  }
}

/** Copies positions under a path of one document to a path of another. */
function copyLocations(from: ConfigDocument, fromPath: KeyPath, to: ConfigDocument, toPath: KeyPath): void {
  const prefix = pathKey(fromPath).slice(0, -1);
  for (const [key, location] of from.locations) {
    if (key !== pathKey(fromPath) && !key.startsWith(`${prefix},`)) continue;
    const rest = (JSON.parse(key) as (string | number)[]).slice(fromPath.length);
    const targetKey = pathKey([...toPath, ...rest]);
    if (!to.locations.has(targetKey)) to.locations.set(targetKey, location);
  }
}
