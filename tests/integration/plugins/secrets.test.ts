// How the dump tasks hand a password to their tool, checked with fake pg_dump and mariadb-dump scripts
// that record what they were given: a private temporary file that exists only while the tool runs,
// never argv, never PGPASSWORD, never the log. (The real tools run in postgresql/mariadb.test.ts.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { mariadbTaskSchema } from "../../../mod/config/tasks/mariadb.ts";
import { postgresqlTaskSchema } from "../../../mod/config/tasks/postgresql.ts";
import { createMariadbPlugin, mariadbPlugin } from "../../../plugins/mariadb.ts";
import { createPostgresqlPlugin, postgresqlPlugin } from "../../../plugins/postgresql.ts";
import { makeTempDir, removeTempDir } from "../../harness/tmp.ts";
import { captureLog, testContext } from "../../unit/plugins/context.ts";
import { writeScript } from "./fixtures.ts";

const password = 'CANARY-5e1d:with\\odd"chars';

/** A fake dump tool: records argv, its password file (content, modes, path) and PGPASSWORD, then prints a complete dump. */
function fakeDumpTool(
  recordDirectory: string,
  options: { passwordFileFrom: "PGPASSFILE" | "first-argument"; dump: string },
) {
  const locate =
    options.passwordFileFrom === "PGPASSFILE"
      ? "secret=${PGPASSFILE-}"
      : 'secret=""; case "$1" in --defaults-extra-file=*) secret=${1#--defaults-extra-file=} ;; esac';
  return `#!/bin/bash
record=${recordDirectory}
printf '%s\\n' "$@" > "$record/argv"
echo "PGPASSWORD=\${PGPASSWORD-unset}" > "$record/env"
${locate}
if [[ -n $secret ]]; then
  echo "$secret" > "$record/secret-path"
  cat "$secret" > "$record/secret"
  stat -c '%a %U' "$secret" > "$record/secret-mode"
  stat -c '%a' "$(dirname "$secret")" > "$record/secret-dir-mode"
fi
printf '${options.dump}'
`;
}

describe("database passwords", () => {
  let root: string;
  let passwordFile: string;
  beforeAll(async () => {
    root = await makeTempDir("bkpctl-secrets-");
    passwordFile = join(root, "db-password");
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    if (root) await removeTempDir(root);
  });

  test("postgresql: the password reaches pg_dump only in a private temporary .pgpass named by PGPASSFILE", async () => {
    const record = await makeTempDir("bkpctl-record-");
    const tool = await writeScript(
      join(root, "fake-pg_dump"),
      fakeDumpTool(record, {
        passwordFileFrom: "PGPASSFILE",
        dump: "SELECT 1;\\n--\\n-- PostgreSQL database dump complete\\n--\\n\\n",
      }),
    );
    const task = postgresqlTaskSchema.parse({
      database: "shop",
      hostname: "127.0.0.1",
      password_file: passwordFile,
    });
    const context = testContext(join(root, "pg"), { taskKey: "postgresql", tools: { pg_dump_cmd: [tool] } });
    const stopCapture = captureLog();
    let logLines: string[];
    try {
      await postgresqlPlugin.dump?.(task, context);
    } finally {
      logLines = stopCapture();
    }
    expect(await readFile(join(record, "secret"), "utf8")).toBe(`*:*:*:*:CANARY-5e1d\\:with\\\\odd"chars\n`);
    expect(await readFile(join(record, "secret-mode"), "utf8")).toBe("600 root\n");
    expect(await readFile(join(record, "secret-dir-mode"), "utf8")).toBe("700\n");
    expect(await readFile(join(record, "env"), "utf8")).toBe("PGPASSWORD=unset\n");
    const argv = await readFile(join(record, "argv"), "utf8");
    expect(argv).toContain("--no-password\n");
    expect(argv).not.toContain("CANARY");
    expect(logLines.join("\n")).toContain("PGPASSFILE");
    expect(logLines.join("\n")).not.toContain("CANARY");
    const temporaryFile = (await readFile(join(record, "secret-path"), "utf8")).trim();
    expect(existsSync(temporaryFile)).toBe(false);
    expect(existsSync(join(temporaryFile, ".."))).toBe(false);
    await removeTempDir(record);
  });

  test("mariadb: the password reaches the tool only in a private option file given as the first option", async () => {
    const record = await makeTempDir("bkpctl-record-");
    const tool = await writeScript(
      join(root, "fake-mariadb-dump"),
      fakeDumpTool(record, {
        passwordFileFrom: "first-argument",
        dump: "CREATE TABLE x (id int);\\n-- Dump completed\\n",
      }),
    );
    const task = mariadbTaskSchema.parse({ database: "shop", password_file: passwordFile });
    const context = testContext(join(root, "my"), {
      taskKey: "mariadb",
      tools: { mariadb_dump_cmd: [tool] },
    });
    const stopCapture = captureLog();
    let logLines: string[];
    try {
      await mariadbPlugin.dump?.(task, context);
    } finally {
      logLines = stopCapture();
    }
    expect(await readFile(join(record, "secret"), "utf8")).toBe(
      `[client]\npassword="CANARY-5e1d:with\\\\odd\\"chars"\n`,
    );
    expect(await readFile(join(record, "secret-mode"), "utf8")).toBe("600 root\n");
    expect(await readFile(join(record, "secret-dir-mode"), "utf8")).toBe("700\n");
    const argv = (await readFile(join(record, "argv"), "utf8")).split("\n");
    expect(argv[0]).toMatch(/^--defaults-extra-file=\//);
    expect(argv.join(" ")).not.toContain("CANARY");
    expect(logLines.join("\n")).not.toContain("CANARY");
    expect(existsSync((await readFile(join(record, "secret-path"), "utf8")).trim())).toBe(false);
    await removeTempDir(record);
  });

  test("a password file that other users can read is refused before anything runs", async () => {
    const loose = join(root, "loose-password");
    await writeFile(loose, `${password}\n`, { mode: 0o644 });
    const task = postgresqlTaskSchema.parse({ database: "shop", password_file: loose });
    const tool = await writeScript(join(root, "never-run"), `#!/bin/sh\ntouch ${root}/ran\n`);
    const context = testContext(join(root, "loose"), {
      taskKey: "postgresql",
      tools: { pg_dump_cmd: [tool] },
    });
    await expect(postgresqlPlugin.dump?.(task, context)).rejects.toThrow(
      /mode 0644 allows other users to read it/,
    );
    expect(existsSync(join(root, "ran"))).toBe(false);
    expect(existsSync(join(context.outputDir, "databases", "shop.sql"))).toBe(false);
  });

  test("password_file with container is refused: a file on the host is not visible in the container", async () => {
    const stack = { compose_file: join(root, "compose.yml") };
    const context = testContext(join(root, "container"), { taskKey: "postgresql" });
    const postgresql = postgresqlTaskSchema.parse({
      database: "shop",
      container: "db",
      password_file: passwordFile,
    });
    await expect(createPostgresqlPlugin(stack).dump?.(postgresql, context)).rejects.toThrow(
      'Cannot use password_file with container "db"',
    );
    const mariadb = mariadbTaskSchema.parse({
      database: "shop",
      container: "db",
      password_file: passwordFile,
    });
    await expect(createMariadbPlugin(stack).dump?.(mariadb, context)).rejects.toThrow(
      'Cannot use password_file with container "db"',
    );
    // without the service's docker task there is no stack to run in
    await expect(postgresqlPlugin.dump?.(postgresql, context)).rejects.toThrow(
      /the service file has no docker task/,
    );
  });
});
