// An HTTP server on 127.0.0.1 standing in for a dead-man's-switch monitor (healthchecks.io and the
// like): it records the path of every request and answers with the status the test sets.

/** A running monitor. */
export interface MonitorHandle {
  /** The URL of a path on it: url("/check/start"). */
  url(path: string): string;
  /** The paths requested so far, in order. */
  readonly requests: string[];
  /** The HTTP status of later answers (default 200). */
  status: number;
  stop(): void;
}

/** Starts a monitor on a free loopback port. */
export function startMonitor(): MonitorHandle {
  const requests: string[] = [];
  const handle = {
    requests,
    status: 200,
    url: (path: string) => `http://127.0.0.1:${server.port}${path}`,
    stop: () => server.stop(true),
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      requests.push(`${request.method} ${new URL(request.url).pathname}`);
      return new Response("OK", { status: handle.status });
    },
  });
  return handle;
}
