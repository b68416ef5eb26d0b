import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { BackupError } from "../../../mod/lib/errors.ts";
import {
  CommandError,
  liveChildCount,
  quoteArgv,
  run,
  spawnStream,
  terminateAllChildren,
} from "../../../mod/lib/exec.ts";
import { Logger, registerSecret, setLogLevel, setLogSink } from "../../../mod/lib/log.ts";
import { commandLine, isRunning, listProcesses, processesOfGroup, waitUntil } from "./process-table.ts";

let logLines: string[];
let directory: string;

beforeEach(() => {
  logLines = [];
  setLogSink({ write: (line) => logLines.push(line) }, { isJournal: false });
  setLogLevel("debug");
  directory = mkdtempSync(join(tmpdir(), "backupctl-exec-"));
});

afterEach(() => {
  setLogSink(undefined);
  setLogLevel("info");
  rmSync(directory, { recursive: true, force: true });
});

/** Returns the rejection of a promise that must fail. */
async function failureOf(promise: Promise<unknown>): Promise<CommandError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CommandError);
    return error as CommandError;
  }
  throw new Error("expected the command to fail");
}

/** Returns the pid of the process whose command line holds marker, waiting for it to appear. */
async function findProcessByMarker(marker: string): Promise<number> {
  let pid: number | undefined;
  await waitUntil(() => {
    pid = listProcesses().find((entry) => commandLine(entry.pid)?.includes(marker))?.pid;
    return pid !== undefined;
  });
  return pid as number;
}

describe("run", () => {
  test("returns captured stdout, exit code and duration of a successful command", async () => {
    const result = await run(["sh", "-c", "printf 'one\\ntwo'"], { stdout: "capture" });
    expect(result.stdout).toBe("one\ntwo");
    expect(result.exitCode).toBe(0);
    expect(result.signal).toBeNull();
    expect(result.skipped).toBe(false);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  test("a non-zero exit throws a message naming the command, the code and the stderr tail", async () => {
    const argv = ["sh", "-c", "echo 'pg_dump: error: connection refused' >&2; exit 1", "--", "app"];
    const error = await failureOf(run(argv));
    expect(error).toBeInstanceOf(BackupError);
    expect(error.message).toBe(
      `Command "sh -c 'echo '\\''pg_dump: error: connection refused'\\'' >&2; exit 1' -- app" failed with exit code 1: pg_dump: error: connection refused`,
    );
    expect(error.failure).toBe("exit-code");
    expect(error.result.exitCode).toBe(1);
    expect(error.result.stderrTail).toEqual(["pg_dump: error: connection refused"]);
  });

  test("the stderr tail keeps the last 20 lines, and the message the last 5", async () => {
    const error = await failureOf(
      run(["sh", "-c", "for i in $(seq 1 30); do echo line$i >&2; done; exit 4"]),
    );
    expect(error.result.stderrTail).toHaveLength(20);
    expect(error.result.stderrTail[0]).toBe("line11");
    expect(error.message).toEndWith("failed with exit code 4: line26\nline27\nline28\nline29\nline30");
  });

  test("the description appears in the failure message", async () => {
    const error = await failureOf(run(["false"], { description: "dump database app" }));
    expect(error.message).toBe('Command "false" (dump database app) failed with exit code 1');
  });

  test("exit codes listed in okExitCodes count as success", async () => {
    const result = await run(["sh", "-c", "exit 3"], { okExitCodes: [0, 3] });
    expect(result.exitCode).toBe(3);
  });

  test("a command killed by a signal names the signal", async () => {
    const error = await failureOf(run(["sh", "-c", "kill -KILL $$"]));
    expect(error.failure).toBe("signal");
    expect(error.message).toBe(`Command "sh -c 'kill -KILL $$'" was killed by signal SIGKILL`);
  });

  test("a command that is not installed fails with a clear message and starts nothing", async () => {
    const error = await failureOf(run(["backupctl-no-such-tool", "--version"]));
    expect(error.failure).toBe("spawn");
    expect(error.message).toBe(
      'Command "backupctl-no-such-tool --version" cannot start: "backupctl-no-such-tool" not found in PATH',
    );
  });

  test("a missing working directory is reported before anything starts", async () => {
    const error = await failureOf(run(["true"], { cwd: join(directory, "missing") }));
    expect(error.message).toContain("does not exist");
  });

  test("a relative program path is found in the working directory given", async () => {
    writeFileSync(join(directory, "tool.sh"), "#!/bin/sh\necho from tool\n", { mode: 0o755 });
    const result = await run(["./tool.sh"], { cwd: directory, stdout: "capture" });
    expect(result.stdout).toBe("from tool\n");
  });

  test("an empty argv is refused", async () => {
    await expect(run([])).rejects.toThrow("argv is empty");
  });

  test("arguments reach the program unchanged, with no shell in between", async () => {
    const tricky = ["$HOME", "a b", "'quoted'", "; rm -rf /", "*", "-x"];
    const result = await run(["printf", "%s\\n", ...tricky], { stdout: "capture" });
    expect(result.stdout).toBe(`${tricky.join("\n")}\n`);
  });

  test("input is written to stdin", async () => {
    const result = await run(["cat"], { input: "from stdin\n", stdout: "capture" });
    expect(result.stdout).toBe("from stdin\n");
  });

  test("stdin is /dev/null without input, so a reading tool never waits for a terminal", async () => {
    const result = await run(["cat"], { stdout: "capture", timeoutMs: 5000 });
    expect(result.stdout).toBe("");
  });

  test("the working directory and added environment reach the child", async () => {
    const result = await run(["sh", "-c", 'printf "%s %s" "$PWD" "$BACKUPCTL_TEST_VALUE"'], {
      cwd: directory,
      env: { BACKUPCTL_TEST_VALUE: "given" },
      stdout: "capture",
    });
    expect(result.stdout).toBe(`${directory} given`);
  });

  test("a clean environment holds only the given variables", async () => {
    const result = await run(["env"], { env: { ONLY: "1" }, shouldInheritEnv: false, stdout: "capture" });
    expect(result.stdout).toBe("ONLY=1\n");
  });

  test("an environment value set to undefined is removed", async () => {
    process.env.BACKUPCTL_TEST_REMOVED = "present";
    try {
      const result = await run(["sh", "-c", 'printf "%s" "${BACKUPCTL_TEST_REMOVED-unset}"'], {
        env: { BACKUPCTL_TEST_REMOVED: undefined },
        stdout: "capture",
      });
      expect(result.stdout).toBe("unset");
    } finally {
      delete process.env.BACKUPCTL_TEST_REMOVED;
    }
  });

  test("stdout lines go one by one to a callback", async () => {
    const lines: string[] = [];
    await run(["printf", "a\\nb\\r\\nc"], { stdout: (line) => lines.push(line) });
    expect(lines).toEqual(["a", "b", "c"]);
  });

  test("a callback that throws fails the command with its error", async () => {
    const error = await failureOf(
      run(["printf", "not json\\n"], {
        stdout: (line) => {
          JSON.parse(line);
        },
      }),
    );
    expect(error.failure).toBe("output");
    expect(error.message).toContain("output could not be handled");
  });

  test("stdout to a file writes the bytes to a file created 0600", async () => {
    const path = join(directory, "dump.sql");
    const result = await run(["printf", "CREATE TABLE x;\\n-- dump complete\\n"], { stdout: { file: path } });
    expect(result.stdout).toBeUndefined();
    expect(readFileSync(path, "utf8")).toBe("CREATE TABLE x;\n-- dump complete\n");
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test("stdout to a file honours a given mode and truncates an older file", async () => {
    const path = join(directory, "out");
    await run(["printf", "a much longer first content"], { stdout: { file: path } });
    await run(["printf", "short"], { stdout: { file: path, mode: 0o640 } });
    expect(readFileSync(path, "utf8")).toBe("short");
    expect(statSync(path).mode & 0o777).toBe(0o640);
  });

  test("stdout to a writable is piped without ending it", async () => {
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on("data", (chunk: Buffer) => chunks.push(chunk));
    await run(["printf", "streamed"], { stdout: sink });
    expect(Buffer.concat(chunks).toString()).toBe("streamed");
    expect(sink.writableEnded).toBe(false);
  });

  test("captured stdout beyond maxCaptureBytes fails the command", async () => {
    const error = await failureOf(
      run(["head", "-c", "100000", "/dev/zero"], { stdout: "capture", maxCaptureBytes: 1000 }),
    );
    expect(error.failure).toBe("output");
    expect(error.message).toContain("more than 1000 bytes");
  });

  test("a background process that keeps stdout open does not hold the result back", async () => {
    const startedAt = Date.now();
    const result = await run(["sh", "-c", "sleep 4 & echo started"]);
    expect(result.exitCode).toBe(0);
    expect(Date.now() - startedAt).toBeLessThan(3800);
  });
});

describe("logging", () => {
  test("each command is logged at debug as escaped argv with env names, never values", async () => {
    await run(["sh", "-c", "exit 0"], {
      env: { PGPASSWORD: "value-that-must-not-appear" },
      logger: new Logger("client:web/postgresql"),
    });
    const text = logLines.join("");
    expect(text).toContain("DEBUG [client:web/postgresql] run: sh -c 'exit 0' (env PGPASSWORD)");
    expect(text).not.toContain("value-that-must-not-appear");
  });

  test("stderr lines are logged at debug, or at the level asked for", async () => {
    await run(["sh", "-c", "echo 'warning: disk slow' >&2"], { logger: new Logger("t") });
    expect(logLines.join("")).toContain("DEBUG [t] warning: disk slow");
    await run(["sh", "-c", "echo 'restic: lock held' >&2"], { stderrLevel: "warn", logger: new Logger("t") });
    expect(logLines.join("")).toContain("WARN  [t] restic: lock held");
  });

  test("stdout with the default target is logged line by line", async () => {
    await run(["printf", "first\\nsecond\\n"], { logger: new Logger("t") });
    const text = logLines.join("");
    expect(text).toContain("DEBUG [t] first\n");
    expect(text).toContain("DEBUG [t] second\n");
  });

  test("secrets given to the call are redacted from argv, stderr, logs and the error message", async () => {
    const secret = "hunter2-secret-value";
    const error = await failureOf(
      run(["sh", "-c", `echo "auth failed for ${secret}" >&2; exit 2`, secret], { secrets: [secret] }),
    );
    expect(error.message).not.toContain(secret);
    expect(error.message).toContain("auth failed for ***");
    expect(error.result.stderrTail.join("\n")).not.toContain(secret);
    expect(logLines.join("")).not.toContain(secret);
    expect(logLines.join("")).toContain("***");
  });

  test("registered secrets are redacted from the error message too", async () => {
    registerSecret("registered-secret-4711");
    const error = await failureOf(run(["sh", "-c", "echo registered-secret-4711 >&2; exit 1"]));
    expect(error.message).not.toContain("registered-secret-4711");
    expect(logLines.join("")).not.toContain("registered-secret-4711");
  });
});

describe("dry run", () => {
  test("dry run logs the argv it would run and spawns nothing", async () => {
    const marker = join(directory, "marker");
    const output = join(directory, "output");
    const result = await run(["touch", marker], { isDryRun: true, stdout: { file: output } });
    expect(result.skipped).toBe(true);
    expect(result.exitCode).toBeNull();
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(output)).toBe(false);
    expect(logLines.join("")).toContain(`INFO  would run: touch ${marker}`);
  });

  test("a dry-run stream handle accepts input and yields no output", async () => {
    const handle = spawnStream(["tar", "-x"], { isDryRun: true, stdin: "pipe" });
    expect(handle.pid).toBeUndefined();
    handle.stdin?.end("ignored");
    const chunks = await handle.stdout?.toArray();
    expect(chunks).toEqual([]);
    expect((await handle.wait()).skipped).toBe(true);
  });
});

describe("timeouts and aborts", () => {
  test("a command that runs too long is ended and reported as timed out", async () => {
    const startedAt = Date.now();
    const error = await failureOf(run(["sleep", "30"], { timeoutMs: 200 }));
    expect(error.failure).toBe("timeout");
    expect(error.message).toBe('Command "sleep 30" timed out after 0.2s');
    expect(Date.now() - startedAt).toBeLessThan(3000);
  });

  test("an aborted command leaves no process behind, grandchildren included", async () => {
    const marker = `backupctl-abort-${process.pid}-${Date.now()}`;
    const controller = new AbortController();
    const running = run(["sh", "-c", "sleep 300 & sleep 300 & wait", marker], { signal: controller.signal });
    const shellPid = await findProcessByMarker(marker);
    await waitUntil(() => processesOfGroup(shellPid).length === 3);
    const members = processesOfGroup(shellPid).map((entry) => entry.pid);
    expect(liveChildCount()).toBe(1);

    controller.abort();
    const error = await failureOf(running);

    expect(error.failure).toBe("abort");
    expect(error.message).toBe(`Command "sh -c 'sleep 300 & sleep 300 & wait' ${marker}" was aborted`);
    expect(processesOfGroup(shellPid)).toEqual([]);
    for (const pid of members) expect(isRunning(pid)).toBe(false);
    expect(liveChildCount()).toBe(0);
  });

  test("a group that ignores SIGTERM is killed with SIGKILL after the grace period", async () => {
    const marker = `backupctl-stubborn-${process.pid}-${Date.now()}`;
    const controller = new AbortController();
    const running = run(["sh", "-c", "trap '' TERM; sleep 300 & wait; wait", marker], {
      signal: controller.signal,
      killGraceMs: 300,
    });
    const shellPid = await findProcessByMarker(marker);
    await waitUntil(() => processesOfGroup(shellPid).length === 2);
    const startedAt = Date.now();
    controller.abort();
    const error = await failureOf(running);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);
    expect(error.failure).toBe("abort");
    expect(processesOfGroup(shellPid)).toEqual([]);
  });

  test("a signal that is already aborted starts nothing", async () => {
    const marker = join(directory, "marker");
    const error = await failureOf(run(["touch", marker], { signal: AbortSignal.abort() }));
    expect(error.failure).toBe("abort");
    expect(existsSync(marker)).toBe(false);
  });
});

describe("spawnStream", () => {
  test("two commands joined by streams form a pipeline", async () => {
    const producer = spawnStream(["printf", "hello pipeline"]);
    const consumer = spawnStream(["tr", "a-z", "A-Z"], { stdin: "pipe", stdout: "capture" });
    producer.stdout?.pipe(consumer.stdin as NodeJS.WritableStream);
    const [first, second] = await Promise.all([producer.wait(), consumer.wait()]);
    expect(first.exitCode).toBe(0);
    expect(second.stdout).toBe("HELLO PIPELINE");
  });

  test("a readable given as stdin is piped into the command", async () => {
    const result = await run(["wc", "-c"], { input: PassThrough.from(["abc", "def"]), stdout: "capture" });
    expect(result.stdout?.trim()).toBe("6");
  });

  test("an input stream that fails ends the command instead of leaving it waiting for more", async () => {
    const input = new PassThrough();
    input.write("partial");
    setTimeout(() => input.destroy(new Error("SFTP read failed")), 100);
    const error = await failureOf(run(["cat"], { input, stdout: "ignore", timeoutMs: 10_000 }));
    expect(error.failure).toBe("input");
    expect(error.message).toBe('Command "cat" input failed: SFTP read failed');
  });

  test("a consumer that exits early does not crash the writer", async () => {
    const handle = spawnStream(["head", "-c", "1"], { stdin: "pipe", stdout: "capture" });
    const big = Buffer.alloc(1024 * 1024, 120);
    for (let index = 0; index < 8; index++) handle.stdin?.write(big);
    handle.stdin?.end();
    expect((await handle.wait()).stdout).toBe("x");
  });

  test("kill() ends the process group and wait() reports it as aborted", async () => {
    const handle = spawnStream(["sh", "-c", "sleep 300 & wait"], { stdout: "ignore" });
    const pid = handle.pid as number;
    await waitUntil(() => processesOfGroup(pid).length === 2);
    handle.kill();
    const error = await failureOf(handle.wait());
    expect(error.failure).toBe("abort");
    expect(processesOfGroup(pid)).toEqual([]);
  });
});

describe("terminateAllChildren", () => {
  test("signals every live process group and the commands fail with that signal", async () => {
    const first = spawnStream(["sleep", "300"], { stdout: "ignore" });
    const second = spawnStream(["sh", "-c", "sleep 300 & wait"], { stdout: "ignore" });
    await waitUntil(() => processesOfGroup(second.pid as number).length === 2);
    expect(liveChildCount()).toBe(2);

    expect(terminateAllChildren("SIGTERM")).toBe(2);

    const errors = await Promise.all([failureOf(first.wait()), failureOf(second.wait())]);
    expect(errors[0].message).toBe('Command "sleep 300" was killed by signal SIGTERM');
    expect(errors[1].failure).toBe("signal");
    await waitUntil(() => processesOfGroup(second.pid as number).length === 0);
    expect(liveChildCount()).toBe(0);
  });
});

describe("quoteArgv", () => {
  test.each([
    [["pg_dump", "-h", "db", "--", "app"], "pg_dump -h db -- app"],
    [["echo", ""], "echo ''"],
    [["echo", "a b"], "echo 'a b'"],
    [["echo", "it's"], "echo 'it'\\''s'"],
    [["echo", "$HOME", "*", "a;b"], "echo '$HOME' '*' 'a;b'"],
    [["tar", "--exclude=./cache", "-C", "/srv/data"], "tar --exclude=./cache -C /srv/data"],
  ])("%p is shown as %p", (argv, text) => {
    expect(quoteArgv(argv)).toBe(text);
  });
});
