// The sshd harness serves SFTP to the test account with a verifiable host key, and its chroot variant
// confines the account to internal-sftp.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chown, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Client, type SFTPWrapper } from "ssh2";
import { type SshdHandle, startSshd } from "../sshd.ts";

/** Connects with the harness's client key, accepting only the host key the harness reported. */
async function connect(sshd: SshdHandle, expectedHostKey = sshd.hostPublicKey): Promise<Client> {
  const expectedBlob = Buffer.from(expectedHostKey.split(" ")[1] ?? "", "base64");
  const privateKey = await readFile(sshd.privateKeyPath);
  return await new Promise<Client>((resolve, reject) => {
    const client = new Client();
    client.once("ready", () => resolve(client));
    client.once("error", reject);
    client.connect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKey,
      readyTimeout: 10_000,
      algorithms: { serverHostKey: ["ssh-ed25519"] },
      hostVerifier: (key: Buffer) => key.equals(expectedBlob),
    });
  });
}

/** Opens the SFTP subsystem on a connected client. */
function openSftp(client: Client): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) =>
    client.sftp((error, sftp) => (error ? reject(error) : resolve(sftp))),
  );
}

/** Lists the names in `path` over SFTP, sorted. */
function listNames(sftp: SFTPWrapper, path: string): Promise<string[]> {
  return new Promise((resolve, reject) =>
    sftp.readdir(path, (error, entries) =>
      error ? reject(error) : resolve(entries.map((entry) => entry.filename).sort()),
    ),
  );
}

/** Runs `command` over an exec channel and collects its stdout and exit code. */
function execute(client: Client, command: string): Promise<{ stdout: string; code: number | null }> {
  return new Promise((resolve, reject) =>
    client.exec(command, (error, channel) => {
      if (error) return reject(error);
      let stdout = "";
      let code: number | null = null;
      channel.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      channel.stderr.on("data", () => {});
      channel.on("exit", (exitCode: number | null) => {
        code = exitCode;
      });
      channel.on("close", () => resolve({ stdout, code }));
      channel.end();
    }),
  );
}

describe("sshd harness", () => {
  let sshd: SshdHandle;
  beforeAll(async () => {
    sshd = await startSshd({ extraHostKeyTypes: ["rsa"] });
  }, 30_000);
  afterAll(async () => await sshd?.stop(), 30_000);

  test("lists the remote dir over SFTP as the unprivileged account, host key verified", async () => {
    const archive = join(sshd.root, "web01-20261126_170000.tar.gz");
    await writeFile(archive, "archive bytes");
    await chown(archive, sshd.uid, sshd.gid);
    const client = await connect(sshd);
    try {
      const sftp = await openSftp(client);
      expect(await listNames(sftp, sshd.remoteRoot)).toEqual(["web01-20261126_170000.tar.gz"]);
      const whoami = await execute(client, "id -un");
      expect(whoami.stdout.trim()).toBe("bkpctl-test");
    } finally {
      client.end();
    }
  });

  test("a client expecting a different host key is refused", async () => {
    const wrongKey = sshd.hostPublicKeys.rsa ?? "";
    expect(wrongKey.startsWith("ssh-rsa ")).toBe(true);
    await expect(connect(sshd, `ssh-ed25519 ${wrongKey.split(" ")[1]}`)).rejects.toThrow();
  });

  test("reports known_hosts lines for every host key", () => {
    expect(sshd.knownHostsLine).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}`);
    expect(sshd.knownHostsLines.map((line) => line.split(" ")[1])).toEqual(["ssh-ed25519", "ssh-rsa"]);
  });
});

describe("sshd harness with the account chrooted to internal-sftp", () => {
  let sshd: SshdHandle;
  beforeAll(async () => {
    sshd = await startSshd({ chrootSftp: true });
  }, 30_000);
  afterAll(async () => await sshd?.stop(), 30_000);

  test("serves SFTP inside the chroot, where the backup dir is writable", async () => {
    const client = await connect(sshd);
    try {
      const sftp = await openSftp(client);
      expect(await listNames(sftp, "/")).toEqual(["backups"]);
      await new Promise<void>((resolve, reject) =>
        sftp.writeFile(`${sshd.remoteRoot}/written-over-sftp`, "hello", (error) =>
          error ? reject(error) : resolve(),
        ),
      );
      expect(await readFile(join(sshd.root, "written-over-sftp"), "utf8")).toBe("hello");
    } finally {
      client.end();
    }
  });

  test("refuses to run a shell command", async () => {
    const marker = join(sshd.root, "shell-ran");
    const client = await connect(sshd);
    try {
      const result = await execute(client, `echo shell-ran; touch ${sshd.remoteRoot}/shell-ran`);
      expect(result.stdout).not.toContain("shell-ran");
      await expect(stat(marker)).rejects.toThrow();
    } finally {
      client.end();
    }
  });
});
