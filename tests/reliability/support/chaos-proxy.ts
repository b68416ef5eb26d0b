// The chaos TCP proxy (the catalogue's H6): sits on loopback between `server pull` and sshd and,
// per connection, passes bytes through, closes after N bytes from the server, stalls after N bytes
// (both sockets stay open, nothing more flows), throttles, or accepts and never answers (no banner).

import { createConnection, createServer, type Server, type Socket } from "node:net";

/** What the proxy does to the next connections. */
export type ProxyMode =
  | { kind: "pass" }
  | { kind: "close-after"; bytes: number }
  | { kind: "stall-after"; bytes: number }
  | { kind: "throttle"; bytesPerSecond: number }
  | { kind: "no-banner" };

/** A running proxy. */
export interface ChaosProxy {
  port: number;
  mode: ProxyMode;
  /** Bytes sent from the server to the client over all connections. */
  bytesToClient: number;
  /** Fires once per connection when the fault was applied. */
  faults: number;
  /** Sockets still open (client and upstream sides). */
  openSockets(): number;
  stop(): Promise<void>;
}

/** Starts a proxy to 127.0.0.1:targetPort. */
export async function startChaosProxy(targetPort: number): Promise<ChaosProxy> {
  const sockets = new Set<Socket>();
  const proxy: ChaosProxy = {
    port: 0,
    mode: { kind: "pass" },
    bytesToClient: 0,
    faults: 0,
    openSockets: () => sockets.size,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => undefined);
    const mode = proxy.mode;
    if (mode.kind === "no-banner") {
      proxy.faults++;
      // read and drop what the client sends, so its close is noticed
      client.resume();
      return;
    }
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
    sockets.add(upstream);
    upstream.on("close", () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    client.on("data", (chunk) => upstream.write(chunk));
    let sent = 0;
    let isFaulted = false;
    upstream.on("data", async (chunk: Buffer) => {
      if (isFaulted) return;
      if (mode.kind === "close-after" || mode.kind === "stall-after") {
        const room = mode.bytes - sent;
        if (chunk.length >= room) {
          isFaulted = true;
          proxy.faults++;
          if (room > 0) client.write(chunk.subarray(0, room));
          sent += Math.max(0, room);
          proxy.bytesToClient += Math.max(0, room);
          if (mode.kind === "close-after") {
            client.destroy();
            upstream.destroy();
          }
          return;
        }
      }
      if (mode.kind === "throttle") {
        upstream.pause();
        await Bun.sleep((chunk.length / mode.bytesPerSecond) * 1000);
        upstream.resume();
      }
      sent += chunk.length;
      proxy.bytesToClient += chunk.length;
      client.write(chunk);
    });
  });
  proxy.port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
  return proxy;
}
