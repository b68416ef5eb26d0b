// sendPing against a real HTTP server on loopback (Bun.serve), a server that never answers, and a
// closed port: the right URL per event, a failed ping logged and never thrown, its token never logged.

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import { type PingSettings, pingSchema } from "../../../mod/config/ping.ts";
import { Logger } from "../../../mod/lib/log.ts";
import { sendPing } from "../../../mod/notify/ping.ts";
import { type MonitorHandle, startMonitor } from "../../harness/monitor.ts";
import { freePort } from "../../harness/tmp.ts";
import { captureLog } from "../plugins/context.ts";

const token = "6f1c9d2e-4b7a-4c1e-9f0a-2d3b4c5d6e7f";
let monitor: MonitorHandle;
let silent: Server;
let silentPort: number;
const silentSockets: Socket[] = [];
/** Ends the test's log capture and returns its lines (debug included); again in afterEach, harmlessly. */
let finishLog: () => string[];
const logger = new Logger("test");

beforeAll(async () => {
  monitor = startMonitor();
  // accepts connections and never answers
  silent = createServer((socket) => silentSockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  silentPort = (silent.address() as { port: number }).port;
});
afterAll(async () => {
  monitor.stop();
  for (const socket of silentSockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});
beforeEach(() => {
  monitor.requests.length = 0;
  monitor.status = 200;
  finishLog = captureLog();
});
afterEach(() => finishLog());

/** Returns ping settings on the test server, as the config would hold them. */
function settings(base: string, extra: Record<string, unknown> = {}): PingSettings {
  return pingSchema.parse({
    start_url: `${base}/${token}/start`,
    success_url: `${base}/${token}`,
    failure_url: `${base}/${token}/fail`,
    ...extra,
  });
}

describe("sendPing", () => {
  test("each event gets its own URL with a GET; a missing URL or block sends nothing", async () => {
    const base = monitor.url("");
    for (const event of ["start", "success", "failure"] as const) {
      await sendPing(settings(base), event, { logger, isDryRun: false });
    }
    expect(monitor.requests).toEqual([`GET /${token}/start`, `GET /${token}`, `GET /${token}/fail`]);
    await sendPing(pingSchema.parse({ success_url: `${base}/${token}` }), "start", {
      logger,
      isDryRun: false,
    });
    await sendPing(undefined, "success", { logger, isDryRun: false });
    expect(monitor.requests).toHaveLength(3);
    const logLines = finishLog();
    expect(logLines.some((line) => line.includes(`Pinged the monitor at ${base} (success)`))).toBe(true);
  });

  test("dry-run says what it would ping and sends nothing", async () => {
    await sendPing(settings(monitor.url("")), "success", { logger, isDryRun: true });
    expect(monitor.requests).toEqual([]);
    expect(finishLog().join("\n")).toContain(`would ping the monitor at ${monitor.url("")} (success)`);
  });

  test("an HTTP error, a closed port and a monitor that never answers are logged, never thrown, and bounded by the timeout", async () => {
    monitor.status = 500;
    await sendPing(settings(monitor.url("")), "failure", { logger, isDryRun: false });
    const closed = await freePort();
    await sendPing(settings(`http://127.0.0.1:${closed}`), "success", { logger, isDryRun: false });
    const started = performance.now();
    await sendPing(settings(`http://127.0.0.1:${silentPort}`, { timeout: "1s" }), "start", {
      logger,
      isDryRun: false,
    });
    expect(performance.now() - started).toBeLessThan(5000);

    const logLines = finishLog();
    expect(logLines.join("\n")).toMatch(/WARN .*answered the failure ping with HTTP 500/);
    expect(logLines.join("\n")).toContain(`Cannot ping the monitor at http://127.0.0.1:${closed} (success)`);
    expect(logLines.join("\n")).toContain(
      `Cannot ping the monitor at http://127.0.0.1:${silentPort} (start)`,
    );
    // the check's token is a secret: it appears in no log line
    expect(logLines.join("\n")).not.toContain(token);
  });
});

describe("the ping: block", () => {
  test("takes http and https URLs and a timeout (default 10 s), and refuses anything else", () => {
    expect(pingSchema.parse({ success_url: "https://hc-ping.com/abc" })).toEqual({
      success_url: "https://hc-ping.com/abc",
      timeout: 10_000,
    });
    for (const url of ["ftp://example.org/x", "hc-ping.com/abc", "https://", "https://hc-ping.com/a\nb"]) {
      expect(pingSchema.safeParse({ success_url: url }).success).toBe(false);
    }
    expect(pingSchema.safeParse({ success_url: "https://x.org", ping_url: "https://x.org" }).success).toBe(
      false,
    );
  });
});
