// Resolution of user and group names to numeric ids through NSS (`getent`), so accounts from LDAP
// or systemd-userdb work as well as those in /etc/passwd.

import { BackupError } from "./errors.ts";
import { run } from "./exec.ts";
import type { Logger } from "./log.ts";

/** Returns the numeric id of a user ("passwd") or group ("group") name; numbers pass through. Throws BackupError when it does not exist. */
export async function resolveAccountId(
  database: "passwd" | "group",
  name: string,
  options: { logger?: Logger } = {},
): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name);
  const kind = database === "passwd" ? "user" : "group";
  const result = await run(["getent", database, "--", name], {
    stdout: "capture",
    okExitCodes: [0, 2],
    logger: options.logger,
    description: `look up ${kind} ${name}`,
  });
  const id = Number(result.stdout?.split(":")[2]);
  if (result.exitCode !== 0 || !Number.isInteger(id)) {
    throw new BackupError(`The ${kind} "${name}" does not exist on this host`, {
      code: "usage",
      hint: `create it, or set backup_${kind} in client_config.yml to an existing ${kind}`,
    });
  }
  return id;
}
