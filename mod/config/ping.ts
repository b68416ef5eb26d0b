// The `ping:` block of a job (client run, server pull, maintain): URLs a dead-man's-switch monitor
// (healthchecks.io, Uptime Kuma's push monitor, Cronitor, …) is sent a GET to when the job starts,
// succeeds or fails. Each job has its own block, so each can have its own check.

import { z } from "zod";
import { duration, expecting, hasControlCharacters } from "./fields.ts";

const second = 1000;

/** An http or https URL on one line. */
function httpUrl() {
  return z.string({ error: expecting("an http or https URL") }).refine(
    (value) => {
      if (hasControlCharacters(value)) return false;
      try {
        const url = new URL(value);
        return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
      } catch {
        return false;
      }
    },
    { message: "must be an http:// or https:// URL, such as https://hc-ping.com/<uuid>" },
  );
}

/** The `ping:` block. */
export const pingSchema = z
  .strictObject({
    start_url: httpUrl().optional().describe("GET when the job starts (default: none)"),
    success_url: httpUrl()
      .optional()
      .describe("GET when the job succeeded (exit 0), e.g. https://hc-ping.com/<uuid> (default: none)"),
    failure_url: httpUrl()
      .optional()
      .describe(
        "GET when the job failed or was partial, e.g. https://hc-ping.com/<uuid>/fail (default: none)",
      ),
    timeout: duration()
      .default(10 * second)
      .describe(
        "how long one ping may take; a ping that fails is logged, never fails the job (default: 10s)",
      ),
  })
  .describe("dead-man's-switch pings for this job (default: none)");

export type PingSettings = z.output<typeof pingSchema>;
