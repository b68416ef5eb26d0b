// The influxdb task. The real influx CLI is not packaged for Debian and cannot be installed here, so a
// fake `influx` written by this test stands in: it records its argv and environment and writes backup
// files like `influx backup` does (or fails, or writes nothing).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { influxdbTaskSchema } from "../../../mod/config/tasks/influxdb.ts";
import { influxdbPlugin } from "../../../plugins/influxdb.ts";
import { makeTempDir, removeTempDir } from "../../harness/tmp.ts";
import { captureLog, testContext } from "../../unit/plugins/context.ts";
import { writeScript } from "./fixtures.ts";

const token = "CANARY-influx-0b7e2c";

describe("influxdb task (with a fake influx CLI)", () => {
  let root: string;
  let tokenFile: string;
  beforeAll(async () => {
    root = await makeTempDir("bkpctl-influx-");
    tokenFile = join(root, "influx-token");
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    if (root) await removeTempDir(root);
  });

  /** Writes a fake influx that records argv and INFLUX_TOKEN into recordDirectory, then runs body. */
  async function fakeInflux(name: string, body: string): Promise<{ tool: string; record: string }> {
    const record = join(root, `${name}-record`);
    const tool = await writeScript(
      join(root, name),
      `#!/bin/bash
mkdir -p ${record}
printf '%s\\n' "$@" > ${record}/argv
printf '%s' "\${INFLUX_TOKEN-unset}" > ${record}/token
destination=\${@: -1}
${body}
`,
    );
    return { tool, record };
  }

  test("backs up into influxdb/ with the token from token_file in INFLUX_TOKEN only", async () => {
    const { tool, record } = await fakeInflux(
      "influx-ok",
      'echo "influx backup: writing" >&2\necho manifest > "$destination/20261126T030000Z.manifest"\necho data > "$destination/20261126T030000Z.sensors.tar.gz"',
    );
    const task = influxdbTaskSchema.parse({ org: "home", bucket: "sensors", token_file: tokenFile });
    const context = testContext(join(root, "ok"), { taskKey: "influxdb", tools: { influx_cmd: [tool] } });
    const stopCapture = captureLog();
    let report: Awaited<ReturnType<NonNullable<typeof influxdbPlugin.dump>>> | undefined;
    let logLines: string[];
    try {
      report = await influxdbPlugin.dump?.(task, context);
    } finally {
      logLines = stopCapture();
    }
    expect(report?.outputs).toEqual(["influxdb"]);
    expect((await readdir(join(context.outputDir, "influxdb"))).sort()).toEqual([
      "20261126T030000Z.manifest",
      "20261126T030000Z.sensors.tar.gz",
    ]);
    expect(await readFile(join(record, "token"), "utf8")).toBe(token);
    expect((await readFile(join(record, "argv"), "utf8")).split("\n")).toEqual([
      "backup",
      "--host=http://localhost:8086",
      "--org=home",
      "--bucket=sensors",
      join(context.outputDir, "influxdb"),
      "",
    ]);
    expect(logLines.join("\n")).toContain("INFLUX_TOKEN");
    expect(logLines.join("\n")).not.toContain(token);
  });

  test("takes the token from backupctl's own INFLUX_TOKEN when there is no token_file", async () => {
    const { tool, record } = await fakeInflux("influx-env", 'echo x > "$destination/backup.manifest"');
    const task = influxdbTaskSchema.parse({ org: "home" });
    const context = testContext(join(root, "env"), { taskKey: "influxdb", tools: { influx_cmd: [tool] } });
    const saved = process.env.INFLUX_TOKEN;
    process.env.INFLUX_TOKEN = `${token}-env`;
    try {
      await influxdbPlugin.dump?.(task, context);
    } finally {
      if (saved === undefined) delete process.env.INFLUX_TOKEN;
      else process.env.INFLUX_TOKEN = saved;
    }
    expect(await readFile(join(record, "token"), "utf8")).toBe(`${token}-env`);
  });

  test("fails without a token, naming both ways to give one", async () => {
    const task = influxdbTaskSchema.parse({ org: "home" });
    const context = testContext(join(root, "none"), { taskKey: "influxdb" });
    const saved = process.env.INFLUX_TOKEN;
    delete process.env.INFLUX_TOKEN;
    try {
      await expect(influxdbPlugin.dump?.(task, context)).rejects.toThrow(/no token/);
    } finally {
      if (saved !== undefined) process.env.INFLUX_TOKEN = saved;
    }
  });

  test("an empty backup directory does not count and is removed", async () => {
    const { tool } = await fakeInflux("influx-empty", "exit 0");
    const task = influxdbTaskSchema.parse({ org: "home", token_file: tokenFile });
    const context = testContext(join(root, "empty"), { taskKey: "influxdb", tools: { influx_cmd: [tool] } });
    await expect(influxdbPlugin.dump?.(task, context)).rejects.toThrow(/is empty/);
    expect(existsSync(join(context.outputDir, "influxdb"))).toBe(false);
  });

  test("a failing influx removes what it wrote, and its error names no token", async () => {
    const { tool } = await fakeInflux(
      "influx-fail",
      'echo half > "$destination/partial"\necho "Error: unauthorized access with token $INFLUX_TOKEN" >&2\nexit 1',
    );
    const task = influxdbTaskSchema.parse({ org: "home", token_file: tokenFile });
    const context = testContext(join(root, "fail"), { taskKey: "influxdb", tools: { influx_cmd: [tool] } });
    const failure = await influxdbPlugin.dump?.(task, context).catch((error: Error) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toContain("unauthorized access with token ***");
    expect((failure as Error).message).not.toContain(token);
    expect(existsSync(join(context.outputDir, "influxdb"))).toBe(false);
  });
});
