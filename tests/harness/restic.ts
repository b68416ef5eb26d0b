// A throwaway restic repository in a temp dir, with its password file (0600) and a private cache, for
// the ingest, maintenance and restore tests to write to and inspect.
import { randomBytes } from "node:crypto";
import { constants, existsSync } from "node:fs";
import { chmod, copyFile, cp, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CommandResult, type RunOptions, runCommand } from "./process.ts";
import { makeTempDir, removeTempDir } from "./tmp.ts";

/** A snapshot as `restic snapshots --json` lists it. */
export interface ResticSnapshot {
  id: string;
  short_id: string;
  time: string;
  hostname: string;
  tags?: string[];
  paths: string[];
  parent?: string;
  tree: string;
}

/** One file, directory or link in a snapshot, as `restic ls --json` lists it. */
export interface ResticNode {
  name: string;
  type: "file" | "dir" | "symlink" | string;
  path: string;
  size?: number;
  mode?: number;
}

/** A restic repository and helpers to inspect it. */
export interface ResticHandle {
  /** Repository location (a local path). */
  repository: string;
  passwordFile: string;
  /** Environment for running restic against this repository: RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE, cache. */
  env: { RESTIC_REPOSITORY: string; RESTIC_PASSWORD_FILE: string; RESTIC_CACHE_DIR: string };
  /** Milliseconds until the repository was ready (a copy of the template, or `restic init`). */
  startupMs: number;
  /** Runs restic with `args` against this repository. Throws on a non-zero exit unless `allowFailure`. */
  restic(args: string[], options?: RunOptions): Promise<CommandResult>;
  /** Backs `paths` up and returns the new snapshot's full id. */
  backup(paths: string[], options?: { host?: string; tags?: string[]; time?: string }): Promise<string>;
  /** All snapshots, oldest first. */
  snapshots(): Promise<ResticSnapshot[]>;
  /** Every node of a snapshot ("latest" allowed). */
  ls(snapshotId: string): Promise<ResticNode[]>;
  /** Removes the repository and its temp dir; idempotent. */
  stop(): Promise<void>;
  /** Same as stop(). */
  cleanup(): Promise<void>;
}

/** Options of `startRestic`. */
export interface ResticOptions {
  /**
   * Run `restic init` for this repository (about 2 s: restic calibrates its key derivation) instead of
   * copying the cached template repository. Copies share the repository id, the master key and the
   * password, which tests that compare repositories with each other must not rely on.
   */
  fresh?: boolean;
}

/** Returns a new or copied repository with its password. Throws when `restic init` fails. */
export async function startRestic(options: ResticOptions = {}): Promise<ResticHandle> {
  const startedAt = performance.now();
  const dir = await makeTempDir("bkpctl-restic-");
  try {
    const passwordFile = join(dir, "password");
    const env = {
      RESTIC_REPOSITORY: join(dir, "repository"),
      RESTIC_PASSWORD_FILE: passwordFile,
      RESTIC_CACHE_DIR: join(dir, "cache"),
    };
    if (options.fresh) {
      await writeFile(passwordFile, `${randomBytes(16).toString("hex")}\n`, { mode: 0o600 });
      await initRepository(env);
    } else {
      const template = await ensureTemplate();
      await copyFile(join(template, "password"), passwordFile, constants.COPYFILE_EXCL);
      await chmod(passwordFile, 0o600);
      await cp(join(template, "repository"), env.RESTIC_REPOSITORY, { recursive: true });
    }
    const startupMs = Math.round(performance.now() - startedAt);
    const restic = (args: string[], options: RunOptions = {}) =>
      runCommand(["restic", ...args], {
        timeoutMs: 300_000,
        ...options,
        // A RESTIC_PASSWORD in the caller's environment would take precedence over the file.
        env: { RESTIC_PASSWORD: undefined, RESTIC_PASSWORD_COMMAND: undefined, ...env, ...options.env },
      });

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= removeTempDir(dir);
      return stopping;
    };
    return {
      repository: env.RESTIC_REPOSITORY,
      passwordFile,
      env,
      startupMs,
      restic,
      async backup(paths, options = {}) {
        const args = ["backup", "--json"];
        if (options.host) args.push(`--host=${options.host}`);
        for (const tag of options.tags ?? []) args.push(`--tag=${tag}`);
        if (options.time) args.push(`--time=${options.time}`);
        const { stdout } = await restic([...args, "--", ...paths]);
        const summary = stdout
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map((line) => JSON.parse(line) as { message_type?: string; snapshot_id?: string })
          .find((message) => message.message_type === "summary");
        const printedId = summary?.snapshot_id;
        if (!printedId) throw new Error(`restic backup printed no summary:\n${stdout}`);
        // restic 0.14 prints the short id; resolve it so callers always get the full one.
        const { stdout: listed } = await restic(["snapshots", "--json", "--no-lock", printedId]);
        const full = (JSON.parse(listed) as ResticSnapshot[]).find((snapshot) =>
          snapshot.id.startsWith(printedId),
        );
        if (!full) throw new Error(`restic backup reported snapshot "${printedId}", which is not listed`);
        return full.id;
      },
      async snapshots() {
        const { stdout } = await restic(["snapshots", "--json"]);
        return JSON.parse(stdout) as ResticSnapshot[];
      },
      async ls(snapshotId) {
        const { stdout } = await restic(["ls", "--json", "--", snapshotId]);
        return stdout
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map((line) => JSON.parse(line) as ResticNode & { struct_type?: string })
          .filter((entry) => entry.struct_type === "node");
      },
      stop,
      cleanup: stop,
    };
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}

/** Runs `restic init` for the repository named in `env`. */
async function initRepository(env: Record<string, string>): Promise<void> {
  await runCommand(["restic", "init", "--quiet"], {
    timeoutMs: 60_000,
    env: { RESTIC_PASSWORD: undefined, RESTIC_PASSWORD_COMMAND: undefined, ...env },
  });
}

/**
 * Returns the template repository, initialising it once per machine and restic version: a cache in the
 * temp dir (a few KB), made in a private dir and renamed into place so concurrent runs never see half of
 * one. Throws when the cached one is not root's own 0700 directory.
 */
async function ensureTemplate(): Promise<string> {
  const { stdout } = await runCommand(["restic", "version"]);
  const version = /restic (\S+)/.exec(stdout)?.[1] ?? "unknown";
  const template = join(tmpdir(), `bkpctl-restic-template-${version}`);
  if (!existsSync(template)) {
    const building = await makeTempDir("bkpctl-restic-template-new-");
    try {
      const passwordFile = join(building, "password");
      await writeFile(passwordFile, `${randomBytes(16).toString("hex")}\n`, { mode: 0o600 });
      await initRepository({
        RESTIC_REPOSITORY: join(building, "repository"),
        RESTIC_PASSWORD_FILE: passwordFile,
        RESTIC_CACHE_DIR: join(building, "cache"),
      });
      await rm(join(building, "cache"), { recursive: true, force: true });
      await rename(building, template).catch((error: NodeJS.ErrnoException) => {
        // Another run was faster; its template is as good as ours.
        if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST") throw error;
      });
    } finally {
      await removeTempDir(building);
    }
  }
  const info = await stat(template);
  if (info.uid !== process.getuid?.() || (info.mode & 0o077) !== 0) {
    throw new Error(`Refusing the restic template "${template}": not a private dir of this user (remove it)`);
  }
  return template;
}
