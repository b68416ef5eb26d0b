// A throwaway restic repository in a temp dir, with its password file (0600) and a private cache, for
// the ingest, maintenance and restore tests to write to and inspect.
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
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
  /** Milliseconds `restic init` took. */
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

/** Initialises a fresh repository. Throws when `restic init` fails. */
export async function startRestic(): Promise<ResticHandle> {
  const startedAt = performance.now();
  const dir = await makeTempDir("bkpctl-restic-");
  try {
    const passwordFile = join(dir, "password");
    await writeFile(passwordFile, `${randomBytes(16).toString("hex")}\n`, { mode: 0o600 });
    const env = {
      RESTIC_REPOSITORY: join(dir, "repository"),
      RESTIC_PASSWORD_FILE: passwordFile,
      RESTIC_CACHE_DIR: join(dir, "cache"),
    };
    const restic = (args: string[], options: RunOptions = {}) =>
      runCommand(["restic", ...args], {
        timeoutMs: 300_000,
        ...options,
        // A RESTIC_PASSWORD in the caller's environment would take precedence over the file.
        env: { RESTIC_PASSWORD: undefined, RESTIC_PASSWORD_COMMAND: undefined, ...env, ...options.env },
      });
    await restic(["init", "--quiet"]);
    const startupMs = Math.round(performance.now() - startedAt);

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
