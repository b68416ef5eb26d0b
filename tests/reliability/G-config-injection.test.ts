// Catalogue #41 and #42, configuration hygiene and injection, through the compiled binary: loose
// modes, foreign owners, symlinks and writable directories are refused before anything is done, as
// are unknown keys, duplicates, alias bombs, wrong types and empty files (with file:line:col); and
// names or values crafted as shell or option injections stay single argv elements or are refused —
// the canary file they try to create never appears.

import { afterAll, beforeAll, describe, expect } from "bun:test";
import { randomUUID } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { runBinary } from "../e2e/binary.ts";
import { runSync, writeConfigFile } from "../e2e/fixtures.ts";
import { makeTempDir, removeTempDir } from "../harness/index.ts";
import { createClientFixture } from "./support/client-fixture.ts";
import { readCallLog, shellQuote, writeExecutable } from "./support/fakebin.ts";
import { openResults } from "./support/results.ts";

const results = openResults("G-config-injection");

let root: string;

beforeAll(async () => {
  root = await makeTempDir("bkpctl-rel-G41-");
});

afterAll(async () => {
  if (root) await removeTempDir(root);
});

/** Services the manifest of a client's newest archive marks as never run. */
function notRunServices(client: ReturnType<typeof createClientFixture>): string[] {
  const archive = client.archives().at(-1);
  if (!archive) return [];
  const manifest = JSON.parse(runSync(["tar", "-xOzf", join(client.baseDir, archive), "./manifest.json"]));
  return (manifest.services as { name: string; error?: string }[])
    .filter((service) => service.error?.startsWith("not run:"))
    .map((service) => service.name);
}

describe("configuration hygiene and injection", () => {
  results.caseTest(
    41,
    "loose modes (0644, 0640), a foreign owner, a symlink to a world-writable file, a writable config dir, a loose password file, an unknown key, a duplicate key, an alias bomb, a wrong type and an empty file are each refused before anything is done, naming the file and the fix (a bad service file refuses that service only; the others are archived)",
    async () => {
      // a problem in client_config.yml stops the run (exit 2) before anything is done; a problem in one
      // service file refuses that service before anything runs, and the others are backed up (exit 3)
      const cases: {
        label: string;
        prepare: (client: ReturnType<typeof createClientFixture>) => void;
        expected: RegExp;
        isServiceLevel?: boolean;
      }[] = [
        {
          label: "mode 0644",
          prepare: (client) => chmodSync(join(client.configDir, "client_config.yml"), 0o644),
          expected: /mode 0644 .*chmod 600/,
        },
        {
          label: "mode 0640",
          prepare: (client) => chmodSync(join(client.configDir, "client_config.yml"), 0o640),
          expected: /mode 0640 .*chmod 600/,
        },
        {
          label: "foreign owner",
          prepare: (client) => chownSync(join(client.configDir, "client_config.yml"), 1000, 1000),
          expected: /owner|owned|chown/,
        },
        {
          label: "symlink to a world-writable file",
          prepare: (client) => {
            const target = join(root, `world-writable-${randomUUID()}.yml`);
            writeFileSync(target, readFileSync(join(client.configDir, "client_config.yml")));
            chmodSync(target, 0o666);
            runSync(["rm", join(client.configDir, "client_config.yml")]);
            symlinkSync(target, join(client.configDir, "client_config.yml"));
          },
          expected: /symlink|mode 0666|other users/,
        },
        {
          label: "writable config dir",
          prepare: (client) => chmodSync(client.configDir, 0o777),
          expected: /mode 0777\) lets other users replace it/,
        },
        {
          label: "loose password file",
          prepare: (client) => {
            const passwordFile = join(root, `loose-${randomUUID()}.pass`);
            writeFileSync(passwordFile, "secret\n", { mode: 0o644 });
            chmodSync(passwordFile, 0o644);
            client.writeService("db", "app", {
              postgresql: { database: "app", password_file: passwordFile },
            });
          },
          expected: /mode 0644.*chmod 600/,
          isServiceLevel: true,
        },
        {
          label: "unknown key",
          prepare: (client) =>
            client.writeService("files", "app", { files: { paths: ["/srv"], exlcude: ["x"] } }),
          expected: /service\.yaml:\d+:\d+.*exlcude.*exclude/s,
          isServiceLevel: true,
        },
        {
          label: "duplicate key",
          prepare: (client) =>
            writeConfigFile(
              client.configDir,
              "client_config.yml",
              `hostname: g41\nhostname: other\nbase_backup_dir: ${client.baseDir}\n`,
            ),
          expected: /client_config\.yml:2:\d+.*unique/,
        },
        {
          label: "alias bomb",
          prepare: (client) =>
            writeConfigFile(
              client.configDir,
              "client_config.yml",
              [
                "a: &a [x,x,x,x,x,x,x,x,x]",
                ...["b", "c", "d", "e", "f", "g", "h"].map(
                  (key, index) => `${key}: &${key} [${Array(9).fill(`*${"abcdefgh"[index]}`).join(",")}]`,
                ),
              ].join("\n"),
            ),
          expected: /alias bomb|too many/,
        },
        {
          label: "wrong type",
          prepare: (client) =>
            writeConfigFile(
              client.configDir,
              "client_config.yml",
              `hostname: g41\nbase_backup_dir: ${client.baseDir}\nkeep_days: seven\n`,
            ),
          expected: /client_config\.yml:3:\d+ keep_days/,
        },
        {
          label: "empty file",
          prepare: (client) => writeConfigFile(client.configDir, "client_config.yml", ""),
          expected: /holds no settings/,
        },
      ];
      const refused: string[] = [];
      const problems: string[] = [];
      for (const [index, entry] of cases.entries()) {
        const client = createClientFixture(root, { hostname: `g41-${index}` });
        client.writeService("files", "data", { files: { paths: [root] } });
        entry.prepare(client);
        const result = await runBinary(["client", "run", "--config-dir", client.configDir]);
        const output = `${result.stdout}${result.stderr}`;
        const touchedNothing =
          !existsSync(client.baseDir) || runSync(["find", client.baseDir, "-mindepth", "1"]).trim() === "";
        const isRefused = entry.isServiceLevel
          ? result.exitCode === 3 && entry.expected.test(output) && notRunServices(client).length === 1
          : result.exitCode === 2 && entry.expected.test(output) && touchedNothing;
        if (isRefused) refused.push(entry.label);
        else
          problems.push(
            `${entry.label}: exit ${result.exitCode}, base dir untouched ${touchedNothing}: ${output.slice(0, 400)}`,
          );
      }
      results.figure(
        "config.bad-configs-refused-before-acting",
        `${refused.length}/${cases.length}`,
        cases.map((entry) => entry.label).join(", "),
      );
      expect(problems).toEqual([]);
    },
  );

  results.caseTest(
    42,
    "shell metacharacters in service names, a ../../etc name, a database named --file=…, an exclude of --delete, a source path with spaces and a leading -, and $(…) in a command's argv never run a shell or become options: the canary file never appears",
    async () => {
      const canary = join(root, `pwned-${randomUUID()}`);
      const client = createClientFixture(root, { hostname: "g42" });
      const callLog = join(root, "rsync-calls.log");
      const rsync = writeExecutable(
        join(root, "bin"),
        "rsync-logged",
        `printf '%s\\0' "$@" >> ${shellQuote(callLog)}; printf '\\n' >> ${shellQuote(callLog)}\nexec rsync "$@"\n`,
      );
      client.writeConfig({ tools: { rsync_cmd: [rsync] } });
      const odd = join(root, "-rf odd dir");
      mkdirSync(odd);
      writeFileSync(join(odd, "file.txt"), "odd\n");
      for (const name of [`x; touch ${canary}`, `$(touch ${canary})`, `\`touch ${canary}\``]) {
        writeConfigFile(client.configDir, `files/${name}/service.yaml`, {
          service: { name: "x" },
          files: { paths: [odd] },
        });
      }
      writeConfigFile(client.configDir, "files/escape/service.yaml", {
        service: { name: "../../etc" },
        files: { paths: [odd] },
      });
      client.writeService("db", "optioned", { postgresql: { database: `--file=${canary}` } });
      client.writeService("files", "odd", { files: { paths: [odd], exclude: ["--delete"] } });
      client.writeService("cmd", "literal", {
        command: {
          argv: ["echo", `$(touch ${canary})`, `; touch ${canary}`, `\`touch ${canary}\``],
          output: "echo.txt",
        },
      });
      const validation = await runBinary([
        "config",
        "validate",
        "--client",
        "--config-dir",
        client.configDir,
      ]);
      const validationText = `${validation.stdout}${validation.stderr}`;
      expect(validation.exitCode).toBe(2);
      expect(validationText).toContain("must not start with");
      expect(validationText).toMatch(/cannot be used as a name/);
      // only the two services with clean names run
      runSync([
        "sh",
        "-c",
        `cd ${shellQuote(client.configDir)} && rm -r files/x* files/\\$* files/\\\`* files/escape db`,
      ]);
      const result = await runBinary(["client", "run", "--config-dir", client.configDir]);
      expect(result.exitCode).toBe(0);
      expect(existsSync(canary)).toBe(false);
      const [archive] = client.archives();
      const echoed = runSync([
        "tar",
        "-xOzf",
        join(client.baseDir, archive as string),
        "./cmd/literal/commands/echo.txt",
      ]).trim();
      expect(echoed).toBe(`$(touch ${canary}) ; touch ${canary} \`touch ${canary}\``);
      const [call] = readCallLog(readFileSync(callLog, "utf8"));
      expect(call).toContain("--exclude=--delete");
      expect(call?.slice(call.indexOf("--") + 1, -1)).toEqual([odd]);
      expect(runSync(["tar", "-tzf", join(client.baseDir, archive as string)])).toContain(
        `${odd.slice(1)}/file.txt`,
      );
      results.figure(
        "injection.canaries-created",
        0,
        "service names with ; $() and backticks, ../../etc, --file=…, --delete, $() in argv",
      );
    },
  );
});
