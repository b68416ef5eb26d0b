// A hostile SFTP server built on ssh2's Server class (tests only; the product's one ssh2 importer
// stays mod/ssh): it answers directory listings, stats and reads with whatever a scenario says —
// names with "/" or "..", NUL or LF, another host's name, a 2099 timestamp, 10^5 entries, a size
// that lies, a file that never ends — and records what the client asked for.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Connection, Server, type SFTPWrapper, utils } from "ssh2";
import { runSync } from "../../e2e/fixtures.ts";

const { STATUS_CODE } = utils.sftp;

/** A file as the listing shows it and as reads return it. */
export interface FakeFile {
  name: string;
  /** The content; undefined with `endless` makes every read return data. */
  content?: Uint8Array;
  /** Bytes endless reads repeat. */
  endless?: Uint8Array;
  /** The size the listing and stat report; undefined leaves the attribute out. */
  listedSize?: number | undefined;
  isDirectory?: boolean;
}

/** What one scenario (selected by the SSH user name) serves in its remote dir. */
export interface FakeScenario {
  files: FakeFile[];
}

/** What the client did, per user name. */
export interface FakeLog {
  opened: string[];
  bytesServed: number;
  listings: number;
}

/** A running hostile server. */
export interface HostileSftpServer {
  port: number;
  /** "ssh-ed25519 AAAA…" for known_hosts. */
  hostPublicKey: string;
  /** A client private key (mode 0600) for ssh_key_file; any key is accepted. */
  clientKeyFile: string;
  remoteDir: string;
  logs: Map<string, FakeLog>;
  stop(): Promise<void>;
}

/** Builds the attrs of a file entry. */
function fileAttributes(file: FakeFile) {
  const mtime = Math.floor(Date.now() / 1000);
  return {
    mode: file.isDirectory ? 0o040750 : 0o100640,
    uid: 0,
    gid: 0,
    ...(file.listedSize !== undefined ? { size: file.listedSize } : {}),
    atime: mtime,
    mtime,
  } as unknown as import("ssh2").Attributes;
}

/** Serves one SFTP session for a scenario. */
function serveSftp(sftp: SFTPWrapper, scenario: FakeScenario, log: FakeLog, remoteDir: string): void {
  const handles = new Map<string, { file?: FakeFile; listingOffset?: number }>();
  let nextHandle = 0;
  const newHandle = (state: { file?: FakeFile; listingOffset?: number }) => {
    const handle = Buffer.alloc(4);
    handle.writeUInt32BE(nextHandle++);
    handles.set(handle.toString("hex"), state);
    return handle;
  };
  const findFile = (path: string) =>
    path.startsWith(`${remoteDir}/`)
      ? scenario.files.find((file) => `${remoteDir}/${file.name}` === path)
      : undefined;
  sftp.on("REALPATH", (requestId, path) => {
    sftp.name(requestId, [{ filename: path, longname: path, attrs: {} as import("ssh2").Attributes }]);
  });
  const stat = (requestId: number, path: string) => {
    if (path === remoteDir) return sftp.attrs(requestId, fileAttributes({ name: "", isDirectory: true }));
    const file = findFile(path);
    if (file) return sftp.attrs(requestId, fileAttributes(file));
    sftp.status(requestId, STATUS_CODE.NO_SUCH_FILE);
  };
  sftp.on("STAT", stat);
  sftp.on("LSTAT", stat);
  sftp.on("OPENDIR", (requestId, path) => {
    if (path !== remoteDir) return sftp.status(requestId, STATUS_CODE.NO_SUCH_FILE);
    log.listings++;
    sftp.handle(requestId, newHandle({ listingOffset: 0 }));
  });
  sftp.on("READDIR", (requestId, handle) => {
    const state = handles.get(handle.toString("hex"));
    if (state?.listingOffset === undefined) return sftp.status(requestId, STATUS_CODE.FAILURE);
    const batch = scenario.files.slice(state.listingOffset, state.listingOffset + 1000);
    if (batch.length === 0) return sftp.status(requestId, STATUS_CODE.EOF);
    state.listingOffset += batch.length;
    sftp.name(
      requestId,
      batch.map((file) => ({ filename: file.name, longname: file.name, attrs: fileAttributes(file) })),
    );
  });
  sftp.on("OPEN", (requestId, path) => {
    log.opened.push(path);
    const file = findFile(path);
    if (!file || file.isDirectory) return sftp.status(requestId, STATUS_CODE.NO_SUCH_FILE);
    sftp.handle(requestId, newHandle({ file }));
  });
  sftp.on("FSTAT", (requestId, handle) => {
    const file = handles.get(handle.toString("hex"))?.file;
    if (!file) return sftp.status(requestId, STATUS_CODE.FAILURE);
    sftp.attrs(requestId, fileAttributes(file));
  });
  sftp.on("READ", (requestId, handle, offset, length) => {
    const file = handles.get(handle.toString("hex"))?.file;
    if (!file) return sftp.status(requestId, STATUS_CODE.FAILURE);
    if (file.endless) {
      const chunk = Buffer.alloc(length);
      const pattern = file.endless;
      for (let index = 0; index < length; index++)
        chunk[index] = pattern[(offset + index) % pattern.length] as number;
      log.bytesServed += length;
      return sftp.data(requestId, chunk);
    }
    const content = file.content ?? new Uint8Array(0);
    if (offset >= content.length) return sftp.status(requestId, STATUS_CODE.EOF);
    const chunk = content.subarray(offset, Math.min(content.length, offset + length));
    log.bytesServed += chunk.length;
    sftp.data(requestId, Buffer.from(chunk));
  });
  sftp.on("CLOSE", (requestId, handle) => {
    handles.delete(handle.toString("hex"));
    sftp.status(requestId, STATUS_CODE.OK);
  });
  for (const request of [
    "WRITE",
    "REMOVE",
    "RENAME",
    "MKDIR",
    "RMDIR",
    "SETSTAT",
    "FSETSTAT",
    "SYMLINK",
    "READLINK",
  ] as const) {
    sftp.on(request, (requestId: number) => sftp.status(requestId, STATUS_CODE.PERMISSION_DENIED));
  }
}

/** Starts the server on 127.0.0.1 with scenarios keyed by SSH user name. */
export async function startHostileSftpServer(
  directory: string,
  scenarios: Record<string, FakeScenario>,
  options: { remoteDir?: string } = {},
): Promise<HostileSftpServer> {
  const remoteDir = options.remoteDir ?? "/backups";
  const hostKeyFile = join(directory, `fake-host-key-${randomBytes(4).toString("hex")}`);
  const clientKeyFile = join(directory, `fake-client-key-${randomBytes(4).toString("hex")}`);
  for (const path of [hostKeyFile, clientKeyFile]) {
    runSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path]);
  }
  const hostPublicKey = readFileSync(`${hostKeyFile}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  const logs = new Map<string, FakeLog>();
  const connections = new Set<Connection>();
  const server = new Server({ hostKeys: [readFileSync(hostKeyFile)] }, (client) => {
    connections.add(client);
    let user = "";
    client.on("close", () => connections.delete(client));
    client.on("error", () => undefined);
    client.on("authentication", (context) => {
      user = context.username;
      if (context.method === "publickey" && scenarios[user]) return context.accept();
      context.reject(["publickey"]);
    });
    client.on("ready", () => {
      client.on("session", (acceptSession) => {
        const session = acceptSession();
        session.on("sftp", (acceptSftp) => {
          const scenario = scenarios[user] as FakeScenario;
          const log = logs.get(user) ?? { opened: [], bytesServed: 0, listings: 0 };
          logs.set(user, log);
          serveSftp(acceptSftp(), scenario, log, remoteDir);
        });
      });
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
  return {
    port,
    hostPublicKey,
    clientKeyFile,
    remoteDir,
    logs,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const connection of connections) connection.end();
        // a connection the client abandoned may never answer the end: do not wait for it
        const timer = setTimeout(resolve, 2000);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
