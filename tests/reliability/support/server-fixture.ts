// A backup server's configuration for the reliability tests: server_config.yml (0600) with its temp
// base, state dir, known_hosts and one restic repository per host (copies of a template repository
// with a cheaply derived key, see fast-restic.ts, so no test waits for scrypt), run through dist/backupctl.

import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runSync, writeConfigFile } from "../../e2e/fixtures.ts";
import { copyFastRepository, fastResticTemplate } from "./fast-restic.ts";

/** One hosts[] entry. */
export interface HostSpec {
  hostname: string;
  port: number;
  sshUser: string;
  keyFile: string;
  remoteDir: string;
  address?: string;
  extra?: Record<string, unknown>;
}

/** The server side of a test. */
export interface ServerFixture {
  configDir: string;
  tempBase: string;
  stateDir: string;
  repositoryRoot: string;
  passwordFile: string;
  knownHostsFile: string;
  /** Writes server_config.yml for hosts. */
  writeConfig(
    hosts: HostSpec[],
    extra?: { global?: Record<string, unknown>; restic?: Record<string, unknown> },
  ): void;
  /** Copies the template repository to <repositoryRoot>/<host>. */
  createRepository(host: string): Promise<void>;
  /** Snapshots of a host's repository (empty when it does not exist). */
  snapshots(host: string): { id: string; tags?: string[]; paths: string[]; time: string }[];
  /** Runs restic against a host's repository. */
  restic(host: string, args: string[]): string;
  /** The state file of a host, or undefined. */
  hostState(
    host: string,
  ): { last_attempt?: { status: string; error?: string; warnings?: string[] } } | undefined;
}

/** Creates the server's dirs under root. */
export async function createServerFixture(root: string): Promise<ServerFixture> {
  const template = await fastResticTemplate();
  const configDir = join(root, "server-etc");
  const tempBase = join(root, "server-work");
  const stateDir = join(root, "server-state");
  const repositoryRoot = join(root, "repositories");
  const knownHostsFile = join(root, "known_hosts");
  mkdirSync(repositoryRoot, { recursive: true });
  mkdirSync(configDir, { recursive: true, mode: 0o700 });
  const passwordFile = template.passwordFile;
  const restic = (host: string, args: string[]) =>
    runSync(["restic", "--repo", join(repositoryRoot, host), "--no-cache", ...args], {
      env: { RESTIC_PASSWORD_FILE: passwordFile },
    });
  return {
    configDir,
    tempBase,
    stateDir,
    repositoryRoot,
    passwordFile,
    knownHostsFile,
    writeConfig(hosts, extra = {}) {
      writeConfigFile(configDir, "server_config.yml", {
        global: {
          local_temp_base_dir: tempBase,
          state_dir: stateDir,
          known_hosts_file: knownHostsFile,
          lock_check_retries: 0,
          lock_check_delay: "1s",
          concurrency: 4,
          connect_timeout: "10s",
          idle_timeout: "10s",
          ...extra.global,
        },
        restic: {
          repository_root: repositoryRoot,
          password_file: passwordFile,
          init_missing_repos: true,
          ...extra.restic,
        },
        hosts: hosts.map((host) => ({
          hostname: host.hostname,
          address: host.address ?? "127.0.0.1",
          port: host.port,
          ssh_user: host.sshUser,
          ssh_key_file: host.keyFile,
          remote_tar_dir: host.remoteDir,
          ...host.extra,
        })),
      });
    },
    async createRepository(host) {
      await copyFastRepository(template, join(repositoryRoot, host));
    },
    snapshots(host) {
      if (!existsSync(join(repositoryRoot, host, "config"))) return [];
      return JSON.parse(restic(host, ["snapshots", "--json", "--no-lock"])) ?? [];
    },
    restic,
    hostState(host) {
      const path = join(stateDir, "server", "hosts", `${host}.json`);
      return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : undefined;
    },
  };
}

/** Writes an archive and (unless sidecar is false) its sidecar into a client's dir, owned by uid:gid. */
export function placeArchive(
  directory: string,
  name: string,
  bytes: Uint8Array,
  options: { owner?: { uid: number; gid: number }; sidecar?: string | false } = {},
): string {
  mkdirSync(directory, { recursive: true });
  if (options.owner) chownSync(directory, options.owner.uid, options.owner.gid);
  const path = join(directory, name);
  writeFileSync(path, bytes, { mode: 0o640 });
  if (options.sidecar !== false) {
    const sha256 = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
    writeFileSync(`${path}.sha256`, options.sidecar ?? `${sha256}  ${name}\n`, { mode: 0o640 });
  }
  if (options.owner) {
    chownSync(path, options.owner.uid, options.owner.gid);
    if (options.sidecar !== false) chownSync(`${path}.sha256`, options.owner.uid, options.owner.gid);
  }
  return path;
}

/** Returns an archive timestamp (YYYYMMDD_HHMMSS, UTC) for a time. */
export function archiveTimestamp(time: Date): string {
  return time.toISOString().replace(/[-:]/g, "").replace("T", "_").slice(0, 15);
}

/** Appends known_hosts lines. */
export function appendKnownHosts(file: string, lines: string[]): void {
  const previous = existsSync(file) ? readFileSync(file, "utf8") : "";
  writeFileSync(file, `${previous}${lines.join("\n")}\n`, { mode: 0o600 });
}
