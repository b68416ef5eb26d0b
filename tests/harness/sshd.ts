// A throwaway OpenSSH server on 127.0.0.1 for the pull tests: its own host keys, one authorized client
// key, and an unprivileged account like a real deployment's — optionally confined to internal-sftp in a
// chroot, the setup DESIGN §7 recommends for the backup account.
import { chmod, chown, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ensureLoginAccount } from "./accounts.ts";
import { runCommand, ServiceProcess, waitUntil } from "./process.ts";
import { makeSecureTempDir, removeTempDir, withFreePort } from "./tmp.ts";

/** The unprivileged account the tests log in as; created once per machine. */
export const sshTestUser = "bkpctl-test";

/** Host key types sshd can be given; ed25519 is always present. */
export type HostKeyType = "ed25519" | "rsa" | "ecdsa";

/** Options of `startSshd`. */
export interface SshdOptions {
  /** Confine the account with ForceCommand internal-sftp in a ChrootDirectory. */
  chrootSftp?: boolean;
  /** Extra host key types besides ed25519. */
  extraHostKeyTypes?: Array<Exclude<HostKeyType, "ed25519">>;
}

/** A running sshd and what a client needs to reach it. */
export interface SshdHandle {
  host: string;
  port: number;
  user: string;
  uid: number;
  gid: number;
  /** The client's ed25519 private key (OpenSSH format, mode 0600). */
  privateKeyPath: string;
  /** The host's ed25519 public key, "ssh-ed25519 AAAA…". */
  hostPublicKey: string;
  /** Every host public key by type ("ssh-ed25519 AAAA…", "ssh-rsa AAAA…", "ecdsa-sha2-nistp256 AAAA…"). */
  hostPublicKeys: Partial<Record<HostKeyType, string>>;
  /** known_hosts line for the ed25519 key: "[127.0.0.1]:port ssh-ed25519 AAAA…". */
  knownHostsLine: string;
  /** known_hosts lines for every host key. */
  knownHostsLines: string[];
  /** Directory on this machine that the account can read and write (the remote backup dir). */
  root: string;
  /** The same directory as the account sees it over SFTP ("/backups" inside the chroot). */
  remoteRoot: string;
  /** The sshd_config in use. */
  configPath: string;
  /** Milliseconds from the call to a listening sshd. */
  startupMs: number;
  /** Stops sshd and removes its temp dir; idempotent. */
  stop(): Promise<void>;
}

const sshKeyTypeNames: Record<HostKeyType, string> = {
  ed25519: "ssh-ed25519",
  rsa: "ssh-rsa",
  ecdsa: "ecdsa-sha2-nistp256",
};

/** Starts sshd on a free loopback port. Throws when it does not accept connections within 20 s. */
export async function startSshd(options: SshdOptions = {}): Promise<SshdHandle> {
  const startedAt = performance.now();
  const { uid, gid } = await ensureLoginAccount(sshTestUser);
  // sshd refuses to start without its privilege-separation directory.
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const dir = await makeSecureTempDir("sshd-");
  let service: ServiceProcess | undefined;
  try {
    // 0711: the account must traverse to its authorized_keys and remote dir, but not list the host keys.
    await chmod(dir, 0o711);
    const keyTypes: HostKeyType[] = ["ed25519", ...(options.extraHostKeyTypes ?? [])];
    const hostPublicKeys: Partial<Record<HostKeyType, string>> = {};
    await Promise.all(
      keyTypes.map(async (type) => {
        hostPublicKeys[type] = await generateKey(join(dir, `ssh_host_${type}_key`), type);
      }),
    );
    const privateKeyPath = join(dir, "client_ed25519");
    const clientPublicKey = await generateKey(privateKeyPath, "ed25519");
    const authDir = join(dir, "authorized_keys.d");
    await mkdir(authDir, { mode: 0o755 });
    await writeFile(join(authDir, sshTestUser), `${clientPublicKey}\n`, { mode: 0o644 });

    const { root, remoteRoot, matchBlock } = await prepareRemoteRoot(dir, { uid, gid, ...options });
    const configPath = join(dir, "sshd_config");
    const { port, running } = await withFreePort(async (candidate) => {
      const config = [
        `Port ${candidate}`,
        "ListenAddress 127.0.0.1",
        ...keyTypes.map((type) => `HostKey ${join(dir, `ssh_host_${type}_key`)}`),
        `PidFile ${join(dir, "sshd.pid")}`,
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        `AuthorizedKeysFile ${authDir}/%u`,
        "StrictModes yes",
        "PermitRootLogin no",
        `AllowUsers ${sshTestUser}`,
        "LogLevel VERBOSE",
        // Pull tests open many connections at once; the default 10:30:100 would drop some.
        "MaxStartups 100",
        "MaxSessions 50",
        "LoginGraceTime 30",
        "Subsystem sftp internal-sftp",
        ...matchBlock,
        "",
      ].join("\n");
      await writeFile(configPath, config, { mode: 0o600 });
      await runCommand(["/usr/sbin/sshd", "-t", "-f", configPath]);
      // sshd re-executes itself, so it must be started by absolute path.
      const started = ServiceProcess.start(["/usr/sbin/sshd", "-D", "-e", "-f", configPath], {
        name: "sshd",
        logPath: join(dir, "sshd.log"),
      });
      service = started;
      await waitUntil(async () => (await readFile(started.logPath, "utf8")).includes("Server listening on"), {
        description: `sshd to listen on 127.0.0.1:${candidate}`,
        timeoutMs: 20_000,
        service: started,
      });
      return { port: candidate, running: started };
    });

    const hostPublicKey = hostPublicKeys.ed25519 ?? "";
    const knownHostsLines = keyTypes.map((type) => `[127.0.0.1]:${port} ${hostPublicKeys[type]}`);
    let stopping: Promise<void> | undefined;
    return {
      host: "127.0.0.1",
      port,
      user: sshTestUser,
      uid,
      gid,
      privateKeyPath,
      hostPublicKey,
      hostPublicKeys,
      knownHostsLine: `[127.0.0.1]:${port} ${hostPublicKey}`,
      knownHostsLines,
      root,
      remoteRoot,
      configPath,
      startupMs: Math.round(performance.now() - startedAt),
      stop() {
        stopping ??= (async () => {
          await running.stop({ sessionsFirst: true });
          await removeTempDir(dir);
        })();
        return stopping;
      },
    };
  } catch (error) {
    await service?.stop();
    await removeTempDir(dir);
    throw error;
  }
}

/**
 * Creates the remote dir the account writes to, and for the chroot variant the root-owned chroot
 * around it plus the Match block that confines the account.
 */
async function prepareRemoteRoot(
  dir: string,
  options: { uid: number; gid: number; chrootSftp?: boolean },
): Promise<{ root: string; remoteRoot: string; matchBlock: string[] }> {
  if (!options.chrootSftp) {
    const root = join(dir, "remote");
    await mkdir(root, { mode: 0o750 });
    await chown(root, options.uid, options.gid);
    return { root, remoteRoot: root, matchBlock: [] };
  }
  // ChrootDirectory: every component root-owned and not group/other-writable; the account gets a
  // writable subdirectory inside.
  const chroot = join(dir, "chroot");
  await mkdir(chroot, { mode: 0o755 });
  const root = join(chroot, "backups");
  await mkdir(root, { mode: 0o750 });
  await chown(root, options.uid, options.gid);
  const matchBlock = [
    `Match User ${sshTestUser}`,
    `  ChrootDirectory ${chroot}`,
    "  ForceCommand internal-sftp",
    "  AllowTcpForwarding no",
    "  X11Forwarding no",
    "  PermitTTY no",
  ];
  return { root, remoteRoot: "/backups", matchBlock };
}

/** Generates a key pair without passphrase (private key 0600) and returns "type base64" of the public key. */
async function generateKey(path: string, type: HostKeyType): Promise<string> {
  const bits = type === "rsa" ? ["-b", "3072"] : type === "ecdsa" ? ["-b", "256"] : [];
  await runCommand(["ssh-keygen", "-q", "-t", type, ...bits, "-N", "", "-C", "", "-f", path]);
  await chmod(path, 0o600);
  const [keyType, blob] = (await readFile(`${path}.pub`, "utf8")).trim().split(/\s+/);
  if (keyType !== sshKeyTypeNames[type] || !blob) throw new Error(`Unexpected public key in "${path}.pub"`);
  return `${keyType} ${blob}`;
}
