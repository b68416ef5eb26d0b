// The command-line program: commander wiring only. Each command maps to one action function in its
// stage module that returns an exit status; main.ts owns the process (signals, exit).

import { Command, CommanderError, InvalidArgumentError, Option } from "@commander-js/extra-typings";
import { runClient } from "./client/run.ts";
import { runClientServices } from "./client/services-command.ts";
import { runConfigValidate } from "./config/validate.ts";
import { BackupError, ExitCode } from "./lib/errors.ts";
import { type LogLevel, logLevels, setLogLevel } from "./lib/log.ts";
import { shutdownSignal } from "./lib/shutdown.ts";
import { runMaintain } from "./maintain/maintain.ts";
import { runRestore } from "./restore/restore.ts";
import { historyLimit } from "./server/history.ts";
import { runServerHistory } from "./server/history-command.ts";
import { runServerPull } from "./server/pull.ts";
import { runServerStatus } from "./server/status.ts";
import { runServerTrust } from "./server/trust-command.ts";
import { commit, version } from "./version.ts";

/** Where commands write their results (stdout); diagnostics go through the logger. */
export interface CliOutput {
  stdout(text: string): void;
}

/** Options every command accepts, before or after the subcommand name. */
export interface GlobalOptions {
  configDir: string;
  logLevel?: LogLevel;
  verbose?: boolean;
  quiet?: boolean;
}

const exitCodeHelp = `
Exit status:
  0    ok
  1    failed
  2    usage or configuration invalid
  3    partial: some services or hosts failed, the rest succeeded
  75   skipped: another run holds the lock
  130  interrupted by SIGINT, 143 by SIGTERM`;

/** Applies --log-level, --verbose and --quiet; the last word wins in that order of strength. */
function applyLogOptions(options: GlobalOptions): void {
  if (options.logLevel) setLogLevel(options.logLevel);
  if (options.quiet) setLogLevel("warn");
  if (options.verbose) setLogLevel("debug");
}

/** Parses an option value that must be a whole number of at least 1. */
function parsePositiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    throw new InvalidArgumentError("must be a whole number of at least 1");
  return number;
}

/** Builds the commander program; `setExitCode` receives each action's exit status. */
export function buildProgram(output: CliOutput, setExitCode: (code: number) => void) {
  const program = new Command()
    .name("backupctl")
    .description(
      "Pull-based backups for fleets of Linux servers: stage on clients, pull into restic, maintain.",
    )
    .version(`backupctl ${version} (commit ${commit})`, "-V, --version", "print the version and build commit")
    .addOption(
      new Option("--config-dir <dir>", "configuration directory")
        .env("BACKUPCTL_CONFIG_DIR")
        .default("/etc/backup"),
    )
    .addOption(new Option("--log-level <level>", "minimum log level").choices(logLevels))
    .option("-v, --verbose", "log debug messages (same as --log-level debug)")
    .option("-q, --quiet", "log only warnings and errors")
    .addHelpText("after", exitCodeHelp)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.stdout(text),
      writeErr: (text) => process.stderr.write(text),
    });

  /** Returns the global options as seen from a subcommand, and applies the log settings. */
  function globalOptions(command: { optsWithGlobals(): unknown }): GlobalOptions {
    const options = command.optsWithGlobals() as GlobalOptions;
    applyLogOptions(options);
    return options;
  }

  /** Returns what every job takes from the global options: the config dir, and whether the command line chose the log level (which then wins over the config's). */
  function jobOptions(command: { optsWithGlobals(): unknown }): {
    configDir: string;
    hasExplicitLogLevel: boolean;
  } {
    const globals = globalOptions(command);
    return {
      configDir: globals.configDir,
      hasExplicitLogLevel: Boolean(globals.logLevel || globals.verbose || globals.quiet),
    };
  }

  const config = program.command("config").description("work with the configuration files");
  config
    .command("validate")
    .description(
      "check the configuration files for structure, names and permissions (exit 0 when valid, 2 when not)",
    )
    .argument("[files...]", "validate only these files")
    .option("--client", "validate only the client configuration and its services")
    .option("--server", "validate only the server configuration")
    .option("--json", "print the issues as JSON")
    .addHelpText("after", exitCodeHelp)
    .action(async (files, options, command) => {
      const { configDir } = globalOptions(command);
      setExitCode(await runConfigValidate({ configDir, files, ...options }, output));
    });

  const client = program
    .command("client")
    .description("Stage 1, on each client: back up its services into one archive");
  client
    .command("run")
    .description(
      "dump, stop, copy and restart each service, then write one verified archive into base_backup_dir (exit 0 ok, 3 some services failed, 75 another run holds the lock)",
    )
    .option("-n, --dry-run", "change nothing: print the plan and every command that would run")
    .option("--service <name...>", "back up only these services (name or type/name)")
    .addHelpText("after", exitCodeHelp)
    .action(async (options, command) => {
      const job = jobOptions(command);
      setExitCode(
        await runClient({
          ...job,
          isDryRun: Boolean(options.dryRun),
          services: options.service,
          signal: shutdownSignal,
          output,
        }),
      );
    });
  client
    .command("services")
    .description("list the services client run would back up: tasks, plugins, needed tools and problems")
    .option("--json", "print as JSON")
    .addHelpText("after", exitCodeHelp)
    .action(async (options, command) => {
      const { configDir } = globalOptions(command);
      setExitCode(await runClientServices({ configDir, json: options.json }, output));
    });

  const server = program
    .command("server")
    .description("Stage 2, on the backup server: fetch archives into restic");
  server
    .command("pull")
    .description(
      "fetch each client's newest archive over SFTP and store it in the host's restic repository (exit 0 ok, 3 some hosts failed, 1 all failed)",
    )
    .option("-n, --dry-run", "connect read-only and print what would be fetched and stored")
    .option("--host <name...>", "pull only these hosts")
    .addHelpText("after", exitCodeHelp)
    .action(async (options, command) => {
      const job = jobOptions(command);
      setExitCode(
        await runServerPull({
          ...job,
          isDryRun: Boolean(options.dryRun),
          hosts: options.host,
          signal: shutdownSignal,
          output,
        }),
      );
    });
  server
    .command("trust")
    .description("show a client's SSH host key fingerprints and record them in known_hosts")
    .argument("<host>", "the host (as in hosts[].hostname, or any host name)")
    .option("--port <port>", "SSH port (default: the host's configured port, else 22)", (value) =>
      Number(value),
    )
    .option(
      "--address <address>",
      "connect to this address (default: the configured address, else the host name)",
    )
    .option("--known-hosts <file>", "known_hosts file to write (default: the host's known_hosts_file)")
    .option("-y, --yes", "record without asking (check the fingerprint first!)")
    .option("--replace", "replace existing entries of this host that hold other keys")
    .addHelpText("after", exitCodeHelp)
    .action(async (host, options, command) => {
      const { configDir } = globalOptions(command);
      setExitCode(
        await runServerTrust(
          {
            configDir,
            host,
            port: options.port,
            address: options.address,
            knownHostsFile: options.knownHosts,
            assumeYes: Boolean(options.yes),
            replace: Boolean(options.replace),
          },
          output,
        ),
      );
    });

  server
    .command("status")
    .description(
      "show each host's last backup, snapshot, size and health against max_age; changes nothing (exit 0 all healthy, 1 a host is failing, stale or never backed up)",
    )
    .option("--json", "print the report as JSON")
    .option("--prometheus <file>", "also write a node_exporter textfile (atomically, mode 0644)")
    .option("--host <name...>", "only these hosts")
    .addHelpText(
      "after",
      `
Health: ok; failing since <time> (N pulls in a row: the last pull failed); stale (the newest backup
is older than max_age); never backed up. Repositories are read with --no-lock and without a cache.
${exitCodeHelp}`,
    )
    .action(async (options, command) => {
      const job = jobOptions(command);
      setExitCode(
        await runServerStatus(
          {
            ...job,
            hosts: options.host,
            json: Boolean(options.json),
            prometheusFile: options.prometheus,
            signal: shutdownSignal,
          },
          output,
        ),
      );
    });

  server
    .command("history")
    .description("show a host's recorded pull attempts, newest last: result, sizes, files, duration, error")
    .argument("<host>", "a configured host")
    .option("--limit <n>", "show at most the newest n attempts", parsePositiveInteger, 30)
    .option("--json", "print the attempts as JSON")
    .addHelpText(
      "after",
      `
Reads only <state_dir>/server/history/<host>.jsonl (the last ${historyLimit} attempts are kept).
${exitCodeHelp}`,
    )
    .action(async (host: string, options, command) => {
      const job = jobOptions(command);
      setExitCode(
        await runServerHistory(
          {
            ...job,
            host,
            limit: options.limit,
            json: Boolean(options.json),
          },
          output,
        ),
      );
    });

  program
    .command("maintain")
    .description(
      "Stage 3, on the backup server: per repository, remove stale restic locks, forget (and prune) by the retention policy, and check (exit 0 ok, 3 some repositories failed, 1 all failed, 75 another maintain runs)",
    )
    .option("-n, --dry-run", "change nothing: list what forget would remove and print the commands")
    .option("--host <name...>", "maintain only these hosts' repositories")
    .addHelpText(
      "after",
      `
Each repository is maintained under the lock server pull takes (waiting up to
global.repository_lock_wait). A host whose newest snapshot is older than its max_age is not
thinned out. read_data_subset "n/t" reads the next part each run; the counter is kept in
<state_dir>/server/maintain/<host>.json. Problems are mailed to restic.maintenance.admin_email
(else global.admin_email).
${exitCodeHelp}`,
    )
    .action(async (options, command) => {
      const job = jobOptions(command);
      setExitCode(
        await runMaintain({
          ...job,
          isDryRun: Boolean(options.dryRun),
          hosts: options.host,
          signal: shutdownSignal,
          output,
        }),
      );
    });

  program
    .command("restore")
    .description(
      "restore a host's snapshot, or one service of it, into a directory that then holds manifest.json and <type>/<name>/ (exit 0 ok, 1 failed, 2 bad host, snapshot, service or non-empty target)",
    )
    .argument("<host>", "the host, as in hosts[].hostname")
    .requiredOption("--target <dir>", "directory to restore into (created if missing; must be empty)")
    .option("--snapshot <id>", "snapshot ID (or its first characters), or latest", "latest")
    .option("--service <name>", "restore only this service: type/name, or its name")
    .option("--force", "restore into a non-empty directory, replacing files of the same name")
    .addHelpText(
      "after",
      `
Afterwards it prints where the database dumps are and the command that loads each
(psql, pg_restore, mariadb, or a copy for SQLite).
${exitCodeHelp}`,
    )
    .action(async (host, options, command) => {
      const job = jobOptions(command);
      setExitCode(
        await runRestore(
          {
            ...job,
            host,
            target: options.target,
            snapshot: options.snapshot,
            service: options.service,
            force: Boolean(options.force),
            signal: shutdownSignal,
          },
          output,
        ),
      );
    });

  return program;
}

/** Runs the program with process arguments (without node/binary prefix) and returns the exit status. */
export async function runCli(args: string[], output: CliOutput): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(output, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through exitOverride with code 0; everything else is a usage error
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    throw error;
  }
  return exitCode;
}

export { BackupError };
