// A restic repository whose key is derived with cheap scrypt parameters, for tests only. restic
// calibrates scrypt at `init` to ~0.5 s of CPU, and every restic command pays it again when it opens
// the repository; a suite that runs restic hundreds of times (the soak, the hostile corpus) would
// spend minutes deriving keys. The key file is re-encrypted with N=1024, r=8, p=1 — same master key,
// same format (restic 0.14 reads the parameters from the key file) — which changes nothing that
// backupctl does, only how long restic takes to open the repository.

import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { cp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSync } from "../../e2e/fixtures.ts";
import { makeTempDir } from "../../harness/index.ts";

/** restic's key file (keys/<id>). */
interface ResticKeyFile {
  created: string;
  username: string;
  hostname: string;
  kdf: "scrypt";
  N: number;
  r: number;
  p: number;
  salt: string;
  data: string;
}

/** Poly1305 of msg with a 32-byte one-time key (r ‖ s), as golang.org/x/crypto/poly1305.Sum. */
function poly1305(message: Uint8Array, key: Uint8Array): Buffer {
  const littleEndian = (bytes: Uint8Array) => {
    let value = 0n;
    for (let index = bytes.length - 1; index >= 0; index--)
      value = (value << 8n) | BigInt(bytes[index] as number);
    return value;
  };
  const r = littleEndian(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = littleEndian(key.subarray(16, 32));
  const prime = (1n << 130n) - 5n;
  let accumulator = 0n;
  for (let offset = 0; offset < message.length; offset += 16) {
    const block = message.subarray(offset, offset + 16);
    accumulator = ((accumulator + littleEndian(block) + (1n << BigInt(8 * block.length))) * r) % prime;
  }
  let tag = (accumulator + s) & ((1n << 128n) - 1n);
  const out = Buffer.alloc(16);
  for (let index = 0; index < 16; index++) {
    out[index] = Number(tag & 0xffn);
    tag >>= 8n;
  }
  return out;
}

/** restic's MAC: Poly1305 keyed with r and AES-128(k, nonce). */
function resticMac(ciphertext: Uint8Array, nonce: Uint8Array, macKey: Uint8Array): Buffer {
  const k = macKey.subarray(0, 16);
  const r = macKey.subarray(16, 32);
  const cipher = createCipheriv("aes-128-ecb", k, null);
  cipher.setAutoPadding(false);
  const encryptedNonce = Buffer.concat([cipher.update(nonce), cipher.final()]);
  return poly1305(ciphertext, Buffer.concat([r, encryptedNonce]));
}

/** Derives restic's user key (encryption key 32 bytes, MAC key k ‖ r 32 bytes). */
function deriveUserKey(
  password: string,
  key: Pick<ResticKeyFile, "salt" | "N" | "r" | "p">,
): { encryption: Buffer; mac: Buffer } {
  const derived = scryptSync(password, Buffer.from(key.salt, "base64"), 64, {
    N: key.N,
    r: key.r,
    p: key.p,
    maxmem: 256 * 1024 * 1024 * 8,
  });
  return { encryption: derived.subarray(0, 32), mac: derived.subarray(32, 64) };
}

/** Returns a key file with the same master key, encrypted under cheap scrypt parameters. */
export function reKey(keyFile: ResticKeyFile, password: string): ResticKeyFile {
  const old = deriveUserKey(password, keyFile);
  const data = Buffer.from(keyFile.data, "base64");
  const nonce = data.subarray(0, 16);
  const ciphertext = data.subarray(16, data.length - 16);
  const mac = data.subarray(data.length - 16);
  if (!resticMac(ciphertext, nonce, old.mac).equals(mac))
    throw new Error("restic key: MAC mismatch (wrong password?)");
  const decipher = createDecipheriv("aes-256-ctr", old.encryption, nonce);
  const plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  const cheap = { salt: randomBytes(64).toString("base64"), N: 1024, r: 8, p: 1 };
  const fresh = deriveUserKey(password, cheap);
  const newNonce = randomBytes(16);
  const cipher = createCipheriv("aes-256-ctr", fresh.encryption, newNonce);
  const newCiphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    ...keyFile,
    ...cheap,
    data: Buffer.concat([newNonce, newCiphertext, resticMac(newCiphertext, newNonce, fresh.mac)]).toString(
      "base64",
    ),
  };
}

/** A cached template: an initialised repository with a cheap key, and its password file. */
export interface FastTemplate {
  repository: string;
  passwordFile: string;
}

/** Returns the cached fast template (made once per machine and restic version). */
export async function fastResticTemplate(): Promise<FastTemplate> {
  const version = runSync(["restic", "version"]).split(" ")[1] ?? "unknown";
  const directory = join(tmpdir(), `bkpctl-restic-fast-template-${version}`);
  const template = { repository: join(directory, "repository"), passwordFile: join(directory, "password") };
  if (existsSync(template.passwordFile)) return template;
  const building = await makeTempDir("bkpctl-restic-fast-new-");
  const passwordFile = join(building, "password");
  const password = randomBytes(16).toString("hex");
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const repository = join(building, "repository");
  initFastRepository(repository, passwordFile, password);
  try {
    renameSync(building, directory);
  } catch {
    rmSync(building, { recursive: true, force: true });
  }
  return template;
}

/** Initialises a repository at path with the password in passwordFile, then re-keys it cheaply. */
export function initFastRepository(repository: string, passwordFile: string, password: string): void {
  runSync(["restic", "init", "--repo", repository], { env: { RESTIC_PASSWORD_FILE: passwordFile } });
  const keysDirectory = join(repository, "keys");
  for (const name of readdirSync(keysDirectory)) {
    const keyFile = JSON.parse(readFileSync(join(keysDirectory, name), "utf8")) as ResticKeyFile;
    const content = JSON.stringify(reKey(keyFile, password));
    const id = createHash("sha256").update(content).digest("hex");
    writeFileSync(join(keysDirectory, id), content, { mode: 0o400 });
    rmSync(join(keysDirectory, name));
  }
  // proves the re-keyed repository opens
  runSync(["restic", "--repo", repository, "--no-cache", "cat", "config"], {
    env: { RESTIC_PASSWORD_FILE: passwordFile },
  });
}

/** Copies the fast template to path. */
export async function copyFastRepository(template: FastTemplate, path: string): Promise<void> {
  await cp(template.repository, path, { recursive: true });
}
