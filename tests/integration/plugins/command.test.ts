// The command task with real programs: stdout into a named file, files written into the directory in
// BACKUPCTL_OUTPUT_DIR, and a failing or slow program that fails the task and leaves no output.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { commandTaskSchema } from "../../../mod/config/tasks/command.ts";
import { commandPlugin } from "../../../plugins/command.ts";
import { makeTempDir, removeTempDir } from "../../harness/tmp.ts";
import { testContext } from "../../unit/plugins/context.ts";
import { runTasks } from "./fixtures.ts";

describe("command task", () => {
  let root: string;
  beforeAll(async () => {
    root = await makeTempDir("bkpctl-command-");
  });
  afterAll(async () => {
    if (root) await removeTempDir(root);
  });

  test("writes the program's stdout into commands/NAME (mode 0600)", async () => {
    const task = commandTaskSchema.parse({
      argv: ["printf", "%s\\n", "line one", "line two"],
      output: "lines.txt",
    });
    const run = await runTasks(join(root, "stdout"), [{ key: "command", options: task }]);
    expect(run.outcome.status).toBe("ok");
    expect(run.outcome.tasks[0]?.outputs).toEqual(["commands/lines.txt"]);
    const file = join(run.outputDir, "commands", "lines.txt");
    expect(await readFile(file, "utf8")).toBe("line one\nline two\n");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  test("lets the program write files into BACKUPCTL_OUTPUT_DIR, told which service it runs for", async () => {
    const script = 'echo "$BACKUPCTL_SERVICE_TYPE/$BACKUPCTL_SERVICE_NAME" > "$BACKUPCTL_OUTPUT_DIR/who"';
    const task = commandTaskSchema.parse({ argv: ["sh", "-c", script] });
    const run = await runTasks(join(root, "directory"), [{ key: "command", options: task }]);
    expect(run.outcome.status).toBe("ok");
    expect(run.outcome.tasks[0]?.outputs).toEqual(["commands"]);
    expect(await readFile(join(run.outputDir, "commands", "who"), "utf8")).toBe("web/shop\n");
  });

  test("fails on a non-zero exit and removes what the program printed", async () => {
    const task = commandTaskSchema.parse({
      argv: ["sh", "-c", "echo half of it; exit 3"],
      output: "half.txt",
    });
    const context = testContext(join(root, "failing"), { taskKey: "command" });
    await expect(commandPlugin.dump?.(task, context)).rejects.toThrow(/failed with exit code 3/);
    expect(await readdir(join(context.outputDir, "commands"))).toEqual([]);
  });

  test("ends a program that runs longer than its timeout", async () => {
    const task = commandTaskSchema.parse({ argv: ["sleep", "30"], output: "never.txt", timeout: "1s" });
    const context = testContext(join(root, "slow"), { taskKey: "command" });
    const startedAt = performance.now();
    await expect(commandPlugin.dump?.(task, context)).rejects.toThrow(/timed out/);
    expect(performance.now() - startedAt).toBeLessThan(10_000);
    expect(existsSync(join(context.outputDir, "commands", "never.txt"))).toBe(false);
  });

  test("warns when the program printed nothing", async () => {
    const task = commandTaskSchema.parse({ argv: ["true"], output: "empty.txt" });
    const report = await commandPlugin.dump?.(task, testContext(join(root, "empty"), { taskKey: "command" }));
    expect(report?.warnings).toEqual(["the command printed nothing: commands/empty.txt is empty"]);
  });

  test("runs nothing in dry-run", async () => {
    const task = commandTaskSchema.parse({ argv: ["touch", join(root, "canary")], output: "x.txt" });
    const context = testContext(join(root, "dry"), { taskKey: "command", isDryRun: true });
    await commandPlugin.dump?.(task, context);
    expect(existsSync(join(root, "canary"))).toBe(false);
    expect(existsSync(context.outputDir)).toBe(false);
  });
});
