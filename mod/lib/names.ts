// Names that become paths: service names and types, host names and external plugin names end up as
// directory names, repository paths and executable names, so they are held to one safe pattern.

/** The pattern every name that becomes a path must match. */
export const safeNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The longest name a Linux file system accepts as one path component. */
const maximumNameLength = 255;

/** Returns why a name cannot become a path component, or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return "a name must not be empty";
  if (name === "." || name === "..") return `"${name}" is not a name`;
  if (name.length > maximumNameLength)
    return `a name must not be longer than ${maximumNameLength} characters`;
  if (!safeNamePattern.test(name))
    return `"${name}" may use only letters, digits, ".", "_" and "-", and must start with a letter or digit`;
  return undefined;
}

/** Returns whether a name can safely become a path component. */
export function isSafeName(name: string): boolean {
  return nameProblem(name) === undefined;
}
