// The backup server's SSH identity: the private key file named by `ssh_key_file`, checked like every
// secret backupctl reads (owned by the invoking user, no access for group or others) before ssh2 sees it.

import { readFile, stat } from "node:fs/promises";
import { utils } from "ssh2";
import { BackupError, errnoCode, errorMessage } from "../lib/errors.ts";

/** A private key ready for ssh2: its bytes and the key type inside. */
export interface PrivateKey {
  path: string;
  data: Buffer;
  keyType: string;
}

const supportedKeyTypes = /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa)$/;

/**
 * Reads and checks a private key file (ed25519, ECDSA or RSA, without passphrase).
 * Throws BackupError when it is missing, not owned by this user, accessible to group or others,
 * protected by a passphrase, or not a supported private key.
 */
export async function readPrivateKey(path: string): Promise<PrivateKey> {
  let data: Buffer;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new BackupError(`Cannot use SSH key "${path}": it is not a regular file`);
    const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
    if ((info.mode & 0o066) !== 0)
      throw new BackupError(`Cannot use SSH key "${path}": mode ${mode} allows other users to access it`, {
        code: "usage",
        hint: `run chmod 600 "${path}"`,
      });
    const uid = process.geteuid?.() ?? info.uid;
    if (info.uid !== uid)
      throw new BackupError(
        `Cannot use SSH key "${path}": it is owned by uid ${info.uid}, not by uid ${uid}`,
        {
          code: "usage",
          hint: `run chown ${uid} "${path}"`,
        },
      );
    data = await readFile(path);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    if (errnoCode(error) === "ENOENT")
      throw new BackupError(`Cannot read SSH key "${path}": it does not exist`, {
        code: "usage",
        hint: "set ssh_key_file to the backup server's private key (create one with ssh-keygen -t ed25519 -N '')",
        cause: error,
      });
    throw new BackupError(`Cannot read SSH key "${path}": ${errorMessage(error)}`, { cause: error });
  }
  return { path, data, keyType: privateKeyType(path, data) };
}

/** Returns the type of a private key. Throws BackupError when ssh2 cannot use it unattended. */
function privateKeyType(path: string, data: Buffer): string {
  const parsed = utils.parseKey(data);
  if (parsed instanceof Error) {
    if (/passphrase/i.test(parsed.message))
      throw new BackupError(`Cannot use SSH key "${path}": it is protected by a passphrase`, {
        code: "usage",
        hint: `backupctl runs unattended: use a key without passphrase (ssh-keygen -p -N '' -f "${path}") kept at mode 0600`,
      });
    throw new BackupError(`Cannot use SSH key "${path}": ${parsed.message}`, {
      code: "usage",
      hint: "use an OpenSSH or PEM private key of type ed25519, ECDSA or RSA",
    });
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined || !key.isPrivateKey())
    throw new BackupError(`Cannot use SSH key "${path}": it is a public key, not a private key`, {
      code: "usage",
      hint: "point ssh_key_file at the private half (the file without .pub)",
    });
  if (!supportedKeyTypes.test(key.type))
    throw new BackupError(`Cannot use SSH key "${path}": key type "${key.type}" is not supported`, {
      code: "usage",
      hint: "use an ed25519 (preferred), ECDSA or RSA key",
    });
  return key.type;
}
