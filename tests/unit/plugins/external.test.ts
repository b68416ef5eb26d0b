import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmod, chown, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { BackupError } from "../../../mod/lib/errors.ts";
import {
  createExternalPlugin,
  defaultQuiesceTimeoutMs,
  externalPluginEnvironment,
  externalPluginProblem,
  type FileFacts,
  findExternalPlugin,
} from "../../../plugins/external.ts";
import { makeTempDir, removeTempDir } from "../../harness/tmp.ts";
import { testContext } from "./context.ts";

const safeDirectory = new Map<string, FileFacts>([
  ["/opt/backup/lib/plugins", { isFile: false, mode: 0o40755, uid: 0 }],
]);

describe("externalPluginProblem", () => {
  const cases: [string, FileFacts, ReadonlyMap<string, FileFacts>, number, RegExp | undefined][] = [
    [
      "a root-owned 0755 file in a root-owned directory",
      { isFile: true, mode: 0o100755, uid: 0 },
      safeDirectory,
      0,
      undefined,
    ],
    [
      "a file of the invoking user",
      { isFile: true, mode: 0o100700, uid: 1000 },
      new Map([["/home/u/p", { isFile: false, mode: 0o40700, uid: 1000 }]]),
      1000,
      undefined,
    ],
    ["a directory", { isFile: false, mode: 0o40755, uid: 0 }, safeDirectory, 0, /not a regular file/],
    [
      "a file without execute bits",
      { isFile: true, mode: 0o100644, uid: 0 },
      safeDirectory,
      0,
      /not executable/,
    ],
    [
      "a file owned by another user",
      { isFile: true, mode: 0o100755, uid: 1000 },
      safeDirectory,
      0,
      /owned by uid 1000/,
    ],
    [
      "a group-writable file",
      { isFile: true, mode: 0o100775, uid: 0 },
      safeDirectory,
      0,
      /lets other users change it/,
    ],
    [
      "a world-writable file",
      { isFile: true, mode: 0o100757, uid: 0 },
      safeDirectory,
      0,
      /lets other users change it/,
    ],
    [
      "a file in a world-writable directory",
      { isFile: true, mode: 0o100755, uid: 0 },
      new Map([["/var/tmp/plugins", { isFile: false, mode: 0o40777, uid: 0 }]]),
      0,
      /lets other users replace it/,
    ],
    [
      "a file in a directory of another user",
      { isFile: true, mode: 0o100755, uid: 0 },
      new Map([["/home/eve", { isFile: false, mode: 0o40755, uid: 1001 }]]),
      0,
      /owned by uid 1001/,
    ],
  ];
  test.each(cases)("%s", (_name, file, directories, uid, expected) => {
    const problem = externalPluginProblem("/opt/backup/lib/plugins/ldap", file, directories, uid);
    if (expected === undefined) expect(problem).toBeUndefined();
    else expect(problem?.message).toMatch(expected);
  });
});

describe("externalPluginEnvironment", () => {
  test("names the phase, the task's own output directory, the service and dry-run", () => {
    const context = {
      service: { type: "web", name: "shop", file: "", directory: "" },
      isDryRun: true,
      outputDir: "/s/web/shop",
      taskKey: "ldap",
    };
    expect(externalPluginEnvironment("quiesce", context)).toEqual({
      BACKUPCTL_PHASE: "quiesce",
      BACKUPCTL_OUTPUT_DIR: "/s/web/shop/ldap",
      BACKUPCTL_SERVICE_NAME: "shop",
      BACKUPCTL_SERVICE_TYPE: "web",
      BACKUPCTL_DRY_RUN: "1",
    });
  });
});

describe("findExternalPlugin", () => {
  let pluginDir: string;
  beforeAll(async () => {
    pluginDir = join(await makeTempDir(), "plugins");
    await mkdir(pluginDir, { mode: 0o755 });
    for (const [name, mode] of [
      ["ldap", 0o755],
      ["loose", 0o777],
      ["databases", 0o755],
      ["foreign", 0o755],
    ] as const) {
      await writeFile(join(pluginDir, name), "#!/bin/sh\nexit 75\n");
      await chmod(join(pluginDir, name), mode);
    }
    await chown(join(pluginDir, "foreign"), 4242, 4242);
    await symlink(join(pluginDir, "ldap"), join(pluginDir, "ldap-link"));
  });
  afterAll(async () => {
    if (pluginDir) await removeTempDir(join(pluginDir, ".."));
  });

  test("turns a safe executable into a plugin with every phase", () => {
    const plugin = findExternalPlugin("ldap", pluginDir);
    expect(plugin?.key).toBe("ldap");
    expect(plugin?.requiredTools(undefined, {} as never)).toEqual([join(pluginDir, "ldap")]);
    expect([plugin?.dump, plugin?.quiesce, plugin?.copy, plugin?.resume].every(Boolean)).toBe(true);
  });

  test("follows a symlink to a safe executable", () => {
    expect(findExternalPlugin("ldap-link", pluginDir)?.key).toBe("ldap-link");
  });

  test("returns nothing for a missing file or a name that is not a file name", () => {
    expect(findExternalPlugin("redis", pluginDir)).toBeUndefined();
    expect(findExternalPlugin("../plugins/ldap", pluginDir)).toBeUndefined();
    expect(findExternalPlugin("ldap", join(pluginDir, "missing-dir"))).toBeUndefined();
  });

  test("refuses a file others can change, naming the fix", () => {
    const refusal = (() => {
      try {
        findExternalPlugin("loose", pluginDir);
      } catch (error) {
        return error as BackupError;
      }
    })();
    expect(refusal?.message).toMatch(/"[^"]+\/loose": mode 0777 lets other users change it$/);
    expect(refusal?.hint).toBe(`run chmod go-w ${join(pluginDir, "loose")}`);
    expect(refusal?.code).toBe("usage");
  });

  test("refuses a file owned by another user", () => {
    expect(() => findExternalPlugin("foreign", pluginDir)).toThrow(/owned by uid 4242/);
  });

  test("refuses a key that is a built-in output directory", () => {
    expect(() => findExternalPlugin("databases", pluginDir)).toThrow(/name of a built-in output directory/);
  });
});

describe("the quiesce phase of an external plugin", () => {
  let root: string;
  beforeAll(async () => {
    root = await makeTempDir();
    // quiesce hangs (bounded: it would end by itself after 30 s); every other phase is skipped
    await writeFile(
      join(root, "hanger"),
      '#!/bin/sh\n[ "$BACKUPCTL_PHASE" = quiesce ] || exit 75\necho "stopping" >&2\nsleep 30\n',
    );
    await chmod(join(root, "hanger"), 0o755);
  });
  afterAll(async () => {
    if (root) await removeTempDir(root);
  });

  test("is bounded by default at 10 minutes, as resume is", () => {
    expect(defaultQuiesceTimeoutMs).toBe(10 * 60 * 1000);
  });

  test("a plugin hanging in quiesce is ended after the timeout and fails the task, its stop already recorded for resume", async () => {
    const plugin = createExternalPlugin("hanger", join(root, "hanger"), { quiesceTimeoutMs: 500 });
    const recorded: unknown[] = [];
    const started = performance.now();
    const error = await Promise.resolve(
      plugin.quiesce?.(
        { unit: "app" },
        testContext(join(root, "staging"), { taskKey: "hanger" }),
        async (data) => {
          recorded.push(structuredClone(data));
        },
      ),
    ).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(String(error)).toContain("timed out");
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(recorded).toEqual([{ task: { unit: "app" }, state: null }]);
  }, 30_000);
});
