// `backupctl server trust HOST`: the only way a host key enters known_hosts. It connects, shows the
// key fingerprints the host proves it holds, asks (or --yes), and records them. No trust on first use.

import { createInterface } from "node:readline/promises";
import { log } from "../lib/log.ts";
import { trustHost } from "../ssh/trust.ts";
import { loadServerSettings } from "./pull.ts";

/** Options of `server trust`. */
export interface ServerTrustOptions {
  configDir: string;
  host: string;
  port?: number;
  address?: string;
  knownHostsFile?: string;
  assumeYes: boolean;
  replace: boolean;
}

/** Asks a yes/no question on the terminal; without a terminal the answer is no. */
async function confirmOnTerminal(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    log.error(
      "Cannot ask for confirmation: standard input is not a terminal (use --yes after checking the fingerprint)",
    );
    return false;
  }
  const reader = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await reader.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    reader.close();
  }
}

/** Records the host's keys; settings come from the host's entry in server_config.yml when there is one. */
export async function runServerTrust(
  options: ServerTrustOptions,
  output: { stdout(text: string): void },
): Promise<number> {
  const logger = log.child(`server:${options.host}`);
  const config = loadServerSettings(options.configDir, logger);
  const configured = config.hosts.find((host) => host.hostname === options.host);
  return await trustHost({
    host: options.host,
    port: options.port ?? configured?.port ?? 22,
    address: options.address ?? configured?.address ?? options.host,
    knownHostsFile: options.knownHostsFile ?? configured?.known_hosts_file ?? config.global.known_hosts_file,
    assumeYes: options.assumeYes,
    replace: options.replace,
    confirm: confirmOnTerminal,
    output: { write: (text: string) => output.stdout(text) },
    timeoutMs: config.global.connect_timeout,
    logger,
  });
}
