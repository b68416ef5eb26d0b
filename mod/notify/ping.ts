// Dead-man's-switch pings: one HTTP GET to a URL the administrator configured (config/ping.ts) when a
// job starts, succeeds or fails. A monitor that stops hearing them alerts even when this machine can
// no longer mail, or the timer stopped firing. A ping never changes the job's result: one that fails
// is logged. Such URLs usually carry the check's secret token, so only their origin is ever logged.

import type { PingSettings } from "../config/ping.ts";
import { errorMessage } from "../lib/errors.ts";
import { type Logger, registerSecret } from "../lib/log.ts";

/** The moments a job pings. */
export type PingEvent = "start" | "success" | "failure";

/** Returns the URL of an event, if one is configured. */
function urlOf(settings: PingSettings, event: PingEvent): string | undefined {
  if (event === "start") return settings.start_url;
  return event === "success" ? settings.success_url : settings.failure_url;
}

/** Sends the event's ping when one is configured; logs a failure, never throws. */
export async function sendPing(
  settings: PingSettings | undefined,
  event: PingEvent,
  options: { logger: Logger; isDryRun: boolean },
): Promise<void> {
  const url = settings ? urlOf(settings, event) : undefined;
  if (!settings || url === undefined) return;
  const { logger } = options;
  registerSecret(url);
  const origin = new URL(url).origin;
  if (options.isDryRun) {
    logger.info(`would ping the monitor at ${origin} (${event})`);
    return;
  }
  try {
    const response = await fetch(url, {
      method: "GET",
      signal: AbortSignal.timeout(settings.timeout),
      headers: { "user-agent": "backupctl" },
    });
    // the body is not needed; reading it frees the connection
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) {
      logger.warn(`The monitor at ${origin} answered the ${event} ping with HTTP ${response.status}`);
      return;
    }
    logger.debug(`Pinged the monitor at ${origin} (${event})`);
  } catch (error) {
    logger.warn(`Cannot ping the monitor at ${origin} (${event}): ${errorMessage(error)}`);
  }
}
