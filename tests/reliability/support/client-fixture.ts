// A client's configuration for the reliability tests: a config dir with client_config.yml (0600),
// its base_backup_dir and state dir, written in the test's temp dir and run through dist/backupctl.

import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runSync, writeConfigFile, writeService } from "../../e2e/fixtures.ts";

/** The directories of one client. */
export interface ClientFixture {
  hostname: string;
  configDir: string;
  baseDir: string;
  stateDir: string;
  /** Writes (or rewrites) client_config.yml with the fixture's dirs and extra keys. */
  writeConfig(extra?: Record<string, unknown>): void;
  /** Writes `<type>/<name>/service.yaml`. */
  writeService(type: string, name: string, tasks: Record<string, unknown>): string;
  /** Final archive names in base_backup_dir, oldest first. */
  archives(): string[];
  /** Names in base_backup_dir that a finished run must not leave: staging dirs, .partial files, the lock. */
  leftovers(): string[];
  /** Stop records in the state dir (stacks an earlier run stopped and did not start again). */
  stopRecords(): string[];
  /** Temporary files of atomic writes left in the base dir and the state dirs. */
  abandonedTemporaryFiles(): string[];
}

/** Creates the dirs of a client under root and writes its config. */
export function createClientFixture(
  root: string,
  options: { hostname?: string; config?: Record<string, unknown> } = {},
): ClientFixture {
  const hostname = options.hostname ?? "web01";
  const configDir = join(root, `${hostname}-etc`);
  const baseDir =
    (options.config?.base_backup_dir as string | undefined) ?? join(root, `${hostname}-backups`);
  const stateDir = join(root, `${hostname}-state`);
  mkdirSync(configDir, { recursive: true, mode: 0o700 });
  const pattern = new RegExp(`^${hostname}-\\d{8}_\\d{6}\\.tar\\.(gz|zst)$`);
  const fixture: ClientFixture = {
    hostname,
    configDir,
    baseDir,
    stateDir,
    writeConfig(extra = {}) {
      writeConfigFile(configDir, "client_config.yml", {
        hostname,
        base_backup_dir: baseDir,
        state_dir: stateDir,
        keep_days: 30,
        min_free_space_mb: 1,
        lock_retries: 0,
        ...options.config,
        ...extra,
      });
    },
    writeService: (type, name, tasks) => writeService(configDir, type, name, tasks),
    archives: () =>
      existsSync(baseDir)
        ? readdirSync(baseDir)
            .filter((name) => pattern.test(name))
            .sort()
        : [],
    leftovers: () =>
      existsSync(baseDir)
        ? readdirSync(baseDir).filter(
            (name) =>
              name.startsWith(".staging-") ||
              name.endsWith(".partial") ||
              name.startsWith(".backup_archive") ||
              name.endsWith(".tmp"),
          )
        : [],
    stopRecords: () => {
      const directory = join(stateDir, "client", "quiesced");
      return existsSync(directory) ? readdirSync(directory).filter((name) => name.endsWith(".json")) : [];
    },
    abandonedTemporaryFiles: () =>
      [baseDir, join(stateDir, "client"), join(stateDir, "client", "quiesced")].flatMap((directory) =>
        existsSync(directory)
          ? readdirSync(directory)
              .filter((name) => /^\..+\.\d+\.[0-9a-f]{12}\.tmp$/.test(name))
              .map((name) => join(directory, name))
          : [],
      ),
  };
  fixture.writeConfig();
  return fixture;
}

/** What checking one final-named archive found. */
export interface ArchiveCheck {
  name: string;
  hasSidecar: boolean;
  /** The sidecar names this archive and its sha256 matches the bytes. */
  isSidecarValid: boolean;
  /** `tar -t` read the whole archive without an error and found ./manifest.json. */
  isReadable: boolean;
}

/** Checks a final-named archive against its sidecar and with `tar -t` (which reads it to the end). */
export function checkArchive(baseDir: string, name: string): ArchiveCheck {
  const path = join(baseDir, name);
  const sidecarPath = `${path}.sha256`;
  const hasSidecar = existsSync(sidecarPath);
  let isSidecarValid = false;
  if (hasSidecar) {
    const [expected, named] = readFileSync(sidecarPath, "utf8")
      .trim()
      .split(/\s+\*?/);
    const actual = runSync(["sha256sum", path]).split(" ")[0];
    isSidecarValid = expected === actual && named === name;
  }
  const listing = Bun.spawnSync(["tar", "-tf", path], { stdout: "pipe", stderr: "pipe" });
  const isReadable =
    listing.exitCode === 0 && listing.stdout.toString().split("\n").includes("./manifest.json");
  return { name, hasSidecar, isSidecarValid, isReadable };
}
