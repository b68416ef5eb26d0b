// Helpers for the SSH tests around the harness sshd: known_hosts files, extra client keys, the sshd
// log (to prove that no authentication happened) and a TCP proxy that can stall or cut a connection.
import { appendFile, chmod, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { dirname, join } from "node:path";
import { runCommand } from "../../harness/process.ts";
import type { SshdHandle } from "../../harness/sshd.ts";

let fileCounter = 0;

/** Writes a known_hosts file (mode 0600) with these lines into dir and returns its path. */
export async function writeKnownHosts(dir: string, lines: string[]): Promise<string> {
  const path = join(dir, `known_hosts.${++fileCounter}`);
  await writeFile(path, `${lines.join("\n")}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return path;
}

/** Generates a client key pair without passphrase in dir and returns the private key path. */
export async function makeClientKey(
  dir: string,
  type: "ed25519" | "ecdsa" | "rsa",
  passphrase = "",
): Promise<string> {
  const path = join(dir, `client_${type}_${++fileCounter}`);
  const bits = type === "rsa" ? ["-b", "3072"] : [];
  await runCommand(["ssh-keygen", "-q", "-t", type, ...bits, "-N", passphrase, "-C", "", "-f", path]);
  return path;
}

/** Lets a client key log in to the harness sshd (sshd reads the authorized keys file at each login). */
export async function authorizeKey(sshd: SshdHandle, privateKeyPath: string): Promise<void> {
  const config = await readFile(sshd.configPath, "utf8");
  const pattern = /^AuthorizedKeysFile\s+(\S+)$/m.exec(config)?.[1];
  if (!pattern) throw new Error(`No AuthorizedKeysFile in "${sshd.configPath}"`);
  await appendFile(pattern.replace("%u", sshd.user), await readFile(`${privateKeyPath}.pub`, "utf8"));
}

/** Returns the public key blob of a "type base64" public key text. */
export function blobOf(publicKey: string | undefined): Buffer {
  return Buffer.from(publicKey?.split(" ")[1] ?? "", "base64");
}

/** A reader of the harness sshd's log from a remembered offset. */
export interface SshdLog {
  /** Remembers the current end of the log. */
  mark(): Promise<void>;
  /** Returns what sshd logged since the mark, after giving it a moment to write. */
  sinceMark(): Promise<string>;
}

/** Returns a reader of the sshd's log (the harness writes it next to sshd_config). */
export function sshdLog(sshd: SshdHandle): SshdLog {
  const path = join(dirname(sshd.configPath), "sshd.log");
  let offset = 0;
  return {
    async mark() {
      offset = (await readFile(path)).length;
    },
    async sinceMark() {
      await Bun.sleep(300);
      return (await readFile(path)).subarray(offset).toString("utf8");
    },
  };
}

/** A TCP proxy in front of a port that forwards until told to stall (drop the server's bytes) or cut. */
export interface FaultProxy {
  port: number;
  /** From now on, bytes from the server are dropped: the client sees a silent server. */
  stall(): void;
  /** Closes every proxied connection at once. */
  cut(): void;
  close(): Promise<void>;
}

/** Starts a FaultProxy on 127.0.0.1 forwarding to 127.0.0.1:targetPort. */
export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  let isStalled = false;
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(targetPort, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk) => {
      if (!isStalled) client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    stall() {
      isStalled = true;
    },
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Starts a TCP server that accepts connections and never says anything (no SSH banner). */
export async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
