import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { assertPrivateFile, permissionProblems } from "../../../mod/config/permissions.ts";
import { loadServerConfig } from "../../../mod/config/validate.ts";
import { BackupError } from "../../../mod/lib/errors.ts";
import {
  captureLog,
  makeTemporaryDirectory,
  removeTemporaryDirectories,
  writeConfigDirectory,
} from "./fixtures.ts";

beforeAll(() => {
  captureLog();
});
afterEach(removeTemporaryDirectories);

const isRoot = process.getuid?.() === 0;
const nobody = 65534;

/** Writes a file with a mode into a fresh temp dir. */
function fileWithMode(mode: number, name = "client_config.yml"): string {
  const file = path.join(makeTemporaryDirectory(), name);
  writeFileSync(file, "keep_days: 3\n");
  chmodSync(file, mode);
  return file;
}

describe("permission checks", () => {
  test("a 0600 or 0400 file owned by the invoking user passes", () => {
    expect(permissionProblems(fileWithMode(0o600))).toEqual([]);
    expect(permissionProblems(fileWithMode(0o400))).toEqual([]);
  });

  test("a 0644 file is refused with the chmod that fixes it", () => {
    const file = fileWithMode(0o644);
    expect(permissionProblems(file)).toEqual([
      {
        kind: "mode",
        message: `Cannot use "${file}": mode 0644 allows other users to read it`,
        hint: `run chmod 600 ${file}`,
      },
    ]);
  });

  test.each([
    [0o640, "read it", "600"],
    [0o620, "change it", "600"],
    [0o666, "read and change it", "600"],
    [0o604, "read it", "600"],
    [0o440, "read it", "400"],
    [0o710, "run it", "700"],
  ])("mode %o lets others %s (fix: chmod %s)", (mode, what, fixed) => {
    const file = fileWithMode(mode);
    const [problem] = permissionProblems(file);
    expect(problem?.message).toEndWith(`allows other users to ${what}`);
    expect(problem?.hint).toBe(`run chmod ${fixed} ${file}`);
  });

  test("a known_hosts file may be readable by others but not writable", () => {
    expect(permissionProblems(fileWithMode(0o644), { access: "protected" })).toEqual([]);
    const file = fileWithMode(0o666);
    expect(permissionProblems(file, { access: "protected" })[0]).toMatchObject({
      message: `Cannot use "${file}": mode 0666 allows other users to change it`,
      hint: `run chmod 644 ${file}`,
    });
  });

  test.if(isRoot)("a file owned by another user is refused with the chown that fixes it", () => {
    const file = fileWithMode(0o600);
    chownSync(file, nobody, nobody);
    expect(permissionProblems(file)).toEqual([
      {
        kind: "owner",
        message: `Cannot use "${file}": it is owned by nobody (uid ${nobody}), not by root`,
        hint: `run chown root ${file}`,
      },
    ]);
  });

  test.if(isRoot)("when not run as root, the invoking user may own the file besides root", () => {
    const file = fileWithMode(0o600);
    chownSync(file, nobody, nobody);
    expect(permissionProblems(file, { uid: nobody })).toEqual([]);
    chownSync(file, 0, 0);
    expect(permissionProblems(file, { uid: nobody })).toEqual([]);
    chownSync(file, 1234, 1234);
    const [problem] = permissionProblems(file, { uid: nobody });
    expect(problem?.message).toContain("not by root or nobody (uid 65534)");
    expect(problem?.hint).toBe(`run chown nobody ${file}`);
  });

  test("a file in a directory others can write to is refused: they could replace it", () => {
    const directory = path.join(makeTemporaryDirectory(), "open");
    mkdirSync(directory);
    chmodSync(directory, 0o777);
    const file = path.join(directory, "restic.pass");
    writeFileSync(file, "secret");
    chmodSync(file, 0o600);
    expect(permissionProblems(file)).toEqual([
      {
        kind: "directory",
        message: `Cannot use "${file}": its directory "${directory}" (mode 0777) lets other users replace it`,
        hint: `run chmod go-w ${directory}`,
      },
    ]);
  });

  test("a symlink is judged by the file it points to", () => {
    const target = fileWithMode(0o666, "target");
    const link = path.join(makeTemporaryDirectory(), "link");
    symlinkSync(target, link);
    expect(permissionProblems(link)[0]?.message).toBe(
      `Cannot use "${link}": mode 0666 allows other users to read and change it`,
    );
  });

  test("missing files and directories are named as such", () => {
    const directory = makeTemporaryDirectory();
    expect(permissionProblems(path.join(directory, "none"))[0]?.kind).toBe("missing");
    expect(permissionProblems(directory)[0]).toMatchObject({ kind: "type" });
  });

  test("assertPrivateFile throws a usage error carrying the fix", () => {
    const file = fileWithMode(0o644);
    expect(() => assertPrivateFile(file)).toThrow(BackupError);
    try {
      assertPrivateFile(file);
    } catch (error) {
      expect((error as BackupError).code).toBe("usage");
      expect((error as BackupError).hint).toBe(`run chmod 600 ${file}`);
    }
    expect(() => assertPrivateFile(fileWithMode(0o600))).not.toThrow();
  });

  test("password and key files a config names are checked where they exist, at the key's line", () => {
    const secrets = makeTemporaryDirectory();
    const password = path.join(secrets, "restic.pass");
    const key = path.join(secrets, "id_ed25519");
    writeFileSync(password, "secret");
    chmodSync(password, 0o644);
    writeFileSync(key, "key");
    chmodSync(key, 0o600);
    const directory = writeConfigDirectory({
      "server_config.yml": `
        global: {admin_email: a@example.org}
        restic: {repository_root: /srv/restic, password_file: ${password}}
        hosts:
          - hostname: web01
            ssh_user: backup
            ssh_key_file: ${key}
          - hostname: web02
            ssh_user: backup
            ssh_key_file: ${path.join(secrets, "missing-key")}
      `,
    });
    const { issues } = loadServerConfig(directory);
    expect(issues.map((issue) => [issue.line, issue.path, issue.message])).toEqual([
      [2, "restic.password_file", `Cannot use "${password}": mode 0644 allows other users to read it`],
    ]);
  });
});
