// scripts/demo's body: builds a throwaway client and server on this machine with the test harness's
// real services (sshd with an internal-sftp chroot, PostgreSQL when installed, an SMTP capture) and
// runs the whole system through the compiled binary, printing each step.

import { chmodSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { type PostgresHandle, startPostgres } from "../tests/harness/postgres.ts";
import { startSmtp } from "../tests/harness/smtp.ts";
import { startSshd } from "../tests/harness/sshd.ts";
import { makeSecureTempDir } from "../tests/harness/tmp.ts";

const binary = resolve(import.meta.dir, "../dist/backupctl");
const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);

/** Writes a config file with mode 0600, as backupctl demands. */
function writeConfig(path: string, content: unknown): void {
  mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
  writeFileSync(path, typeof content === "string" ? content : stringify(content), { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** Runs the binary, showing the command and its output; returns the exit status. Asynchronous, so the mail capture in this process keeps answering. */
async function step(title: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  console.log(`\n${bold(`== ${title}`)}\n$ backupctl ${args.join(" ")}`);
  const child = Bun.spawn([binary, ...args], {
    env: { ...process.env, ...env, JOURNAL_STREAM: "" },
    stdout: "inherit",
    stderr: "inherit",
  });
  const exitCode = await child.exited;
  console.log(`(exit ${exitCode})`);
  return exitCode;
}

/** Runs a command and returns its stdout; throws on failure. */
function run(argv: string[], env: Record<string, string> = {}): string {
  const result = Bun.spawnSync(argv, { env: { ...process.env, ...env } });
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr.toString()}`);
  return result.stdout.toString();
}

const root = await makeSecureTempDir("backupctl-demo-");
const sshd = await startSshd({ chrootSftp: true });
const smtp = await startSmtp();
let postgres: PostgresHandle | undefined;
try {
  postgres = await startPostgres();
} catch (error) {
  console.log(
    `(PostgreSQL is not available here, the demo goes on without it: ${(error as Error).message.split("\n")[0]})`,
  );
}

let failed = false;
try {
  const clientEtc = join(root, "client-etc");
  const serverEtc = join(root, "server-etc");
  const source = join(root, "srv", "notes");

  // a sample service: a file tree with a symlink, and an SQLite database
  mkdirSync(join(source, "attachments"), { recursive: true });
  writeFileSync(join(source, "README.txt"), "Notes app data: everything under /srv/notes is backed up.\n");
  for (let index = 0; index < 20; index++) {
    writeFileSync(
      join(source, "attachments", `file-${index}.txt`),
      `attachment ${index}\n`.repeat(50 + index),
    );
  }
  symlinkSync("README.txt", join(source, "LATEST"));
  run([
    "sqlite3",
    join(root, "srv", "notes.db"),
    "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES ('buy milk'), ('call Ada');",
  ]);

  writeConfig(join(clientEtc, "client_config.yml"), {
    hostname: "demo-client",
    base_backup_dir: sshd.root,
    backup_user: sshd.user,
    backup_group: String(sshd.gid),
    state_dir: join(root, "client-state"),
    min_free_space_mb: 10,
    admin_email: "admin@demo.invalid",
    mail: { transport: "smtp", smtp: { host: "127.0.0.1", port: smtp.port, starttls: "disabled" } },
  });
  const tasks: Record<string, unknown> = {
    service: { name: "notes", description: "the notes app: files and its SQLite database" },
    files: { paths: [source], exclude: ["*.tmp"] },
    sqlite: { path: join(root, "srv", "notes.db") },
  };
  if (postgres) {
    await postgres.createDatabase("shop");
    await postgres.psql(
      "CREATE TABLE orders(id int PRIMARY KEY, item text); INSERT INTO orders VALUES (1, 'book'), (2, 'lamp');",
      {
        database: "shop",
      },
    );
    const passwordFile = join(root, "pg.pass");
    writeFileSync(passwordFile, postgres.password, { mode: 0o600 });
    tasks.postgresql = {
      database: "shop",
      hostname: "127.0.0.1",
      port: postgres.port,
      username: postgres.superuser,
      password_file: passwordFile,
    };
  }
  writeConfig(join(clientEtc, "apps", "notes", "service.yaml"), tasks);

  const passwordFile = join(root, "restic.pass");
  writeFileSync(passwordFile, `demo-${crypto.randomUUID()}\n`, { mode: 0o600 });
  writeConfig(join(serverEtc, "server_config.yml"), {
    global: {
      local_temp_base_dir: join(root, "server-work"),
      state_dir: join(root, "server-state"),
      known_hosts_file: join(serverEtc, "known_hosts"),
      admin_email: "admin@demo.invalid",
      mail: { transport: "smtp", smtp: { host: "127.0.0.1", port: smtp.port, starttls: "disabled" } },
    },
    restic: {
      repository_root: join(root, "repositories"),
      password_file: passwordFile,
      init_missing_repos: true,
      maintenance: { keep_daily: 7, keep_weekly: 4, prune: true, check: true },
    },
    hosts: [
      {
        hostname: "demo-client",
        address: "127.0.0.1",
        port: sshd.port,
        ssh_user: sshd.user,
        ssh_key_file: sshd.privateKeyPath,
        remote_tar_dir: sshd.remoteRoot,
      },
    ],
  });
  mkdirSync(join(root, "repositories"), { mode: 0o700 });

  const steps: [string, string[]][] = [
    ["what the client would back up", ["client", "services", "--config-dir", clientEtc]],
    ["client: back up every service into one archive", ["client", "run", "--config-dir", clientEtc]],
    [
      "server: record the client's host key (no trust on first use)",
      ["server", "trust", "demo-client", "--yes", "--config-dir", serverEtc],
    ],
    [
      "server: pull the archive into the host's restic repository",
      ["server", "pull", "--config-dir", serverEtc],
    ],
    ["server: retention and check", ["maintain", "--config-dir", serverEtc]],
    ["server: fleet status", ["server", "status", "--config-dir", serverEtc]],
    [
      "restore the latest snapshot",
      ["restore", "demo-client", "--target", join(root, "restored"), "--config-dir", serverEtc],
    ],
  ];
  for (const [title, args] of steps) {
    const status = await step(title, args);
    if (status !== 0) {
      failed = true;
      console.log(bold(`The step "${title}" failed (exit ${status}).`));
      break;
    }
  }

  if (!failed) {
    console.log(`\n${bold("== check: the restored files equal the originals")}`);
    const restoredSource = join(root, "restored", "apps", "notes", "data", source);
    const difference = Bun.spawnSync(["diff", "-r", "--no-dereference", source, restoredSource]);
    // (synchronous is fine here: no binary is running that could send mail)
    if (difference.exitCode === 0) {
      console.log(`identical: ${source}\n       and ${restoredSource}`);
    } else {
      failed = true;
      console.log(`DIFFERENT:\n${difference.stdout.toString()}${difference.stderr.toString()}`);
    }
    const dumps = join(root, "restored", "apps", "notes", "databases");
    console.log(`database dumps restored: ${readdirSync(dumps).join(", ")} in ${dumps}`);
  }
  console.log(`\n${bold("== where everything is")}`);
  console.log(`client config:      ${clientEtc}`);
  console.log(`client archives:    ${sshd.root} (in the sshd's chroot, removed when the demo's sshd stops)`);
  console.log(`server config:      ${serverEtc}`);
  console.log(
    `restic repository:  ${join(root, "repositories", "demo-client")} (password in ${passwordFile})`,
  );
  console.log(`restored files:     ${join(root, "restored")}`);
  console.log(
    `mails captured:     ${smtp.messages.length} (${smtp.messages.map((mail) => mail.subject).join("; ")})`,
  );
  console.log(`Remove it all with: rm -rf ${root}`);
} finally {
  await Promise.all([sshd.stop(), smtp.stop(), postgres?.stop()]);
}
console.log(failed ? "\nDemo FAILED" : "\nDemo finished: restored files equal the originals");
process.exit(failed ? 1 : 0);
