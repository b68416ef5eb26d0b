// The program's version and the commit it was built from. scripts/build defines BACKUPCTL_COMMIT;
// a run from source reports "source".

import packageJson from "../package.json" with { type: "json" };

declare const BACKUPCTL_COMMIT: string | undefined;

/** The release version from package.json. */
export const version: string = packageJson.version;

/** The git commit the binary was built from, or "source" when run without building. */
export const commit: string = typeof BACKUPCTL_COMMIT === "string" ? BACKUPCTL_COMMIT : "source";
