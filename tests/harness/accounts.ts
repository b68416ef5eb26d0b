// OS accounts the harness runs services as (postgres, mysql) or logs in as (the SSH test account).
import { runCommand } from "./process.ts";

/** Numeric identity of an account. */
export interface Account {
  uid: number;
  gid: number;
}

/** Returns uid and gid of `name` from the passwd database, or undefined when there is no such account. */
export async function lookupAccount(name: string): Promise<Account | undefined> {
  const result = await runCommand(["getent", "passwd", name], { allowFailure: true });
  const fields = result.stdout.trim().split(":");
  if (result.exitCode !== 0 || fields.length < 4) return undefined;
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** Returns uid and gid of a system account. Throws when it does not exist. */
export async function requireAccount(name: string): Promise<Account> {
  const account = await lookupAccount(name);
  if (!account)
    throw new Error(`Cannot find the "${name}" account (its package creates it; run scripts/install-deps)`);
  return account;
}

/**
 * Creates an unprivileged login account once (idempotent, safe against a concurrent creation) and returns
 * its uid and gid. The password field is "*": no password login, but not "locked" (a "!" would make sshd
 * refuse even key logins when UsePAM is off).
 */
export async function ensureLoginAccount(name: string): Promise<Account> {
  for (let attempt = 0; ; attempt++) {
    const found = await lookupAccount(name);
    if (found) return found;
    const result = await runCommand(
      ["useradd", "--create-home", "--user-group", "--shell", "/bin/sh", "--password", "*", name],
      { allowFailure: true },
    );
    // 9: created meanwhile by someone else; 10: /etc/passwd locked by a concurrent useradd.
    const isRetryable = result.exitCode === 9 || (result.exitCode === 10 && attempt < 20);
    if (result.exitCode !== 0 && !isRetryable) {
      throw new Error(
        `Cannot create account "${name}": useradd exited ${result.exitCode}: ${result.stderr.trim()}`,
      );
    }
    if (result.exitCode === 10) await Bun.sleep(100);
  }
}
