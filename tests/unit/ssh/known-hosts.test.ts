// known_hosts parsing and matching, table-driven, against keys and hashed entries made by ssh-keygen.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger, setLogLevel, setLogSink } from "../../../mod/lib/log.ts";
import {
  checkHostKey,
  formatKnownHostsLine,
  type HostKeyVerdict,
  hashHostName,
  knownKeyTypes,
  parseKnownHosts,
  readKnownHosts,
  sha256Fingerprint,
} from "../../../mod/ssh/known-hosts.ts";

/** A public key made by ssh-keygen: its known_hosts text ("type base64") and blob. */
interface TestKey {
  text: string;
  type: string;
  blob: Buffer;
  path: string;
}

let dir: string;
const keys: Record<"ed25519" | "other" | "ecdsa" | "rsa", TestKey> = {} as never;
const logLines: string[] = [];
const logger = new Logger("test");

/** Runs ssh-keygen and returns its stdout. Throws when it fails. */
async function sshKeygen(args: string[]): Promise<string> {
  const process = Bun.spawn(["ssh-keygen", ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(process.stdout).text(),
    new Response(process.stderr).text(),
    process.exited,
  ]);
  if (code !== 0) throw new Error(`ssh-keygen ${args.join(" ")} exited ${code}: ${stderr}`);
  return stdout;
}

/** Generates a key pair with ssh-keygen and returns its public half. */
async function makeKey(name: string, type: string): Promise<TestKey> {
  const path = join(dir, name);
  await sshKeygen(["-q", "-t", type, "-N", "", "-C", "", "-f", path]);
  const [keyType, base64] = (await readFile(`${path}.pub`, "utf8")).trim().split(/\s+/) as [string, string];
  return {
    text: `${keyType} ${base64}`,
    type: keyType,
    blob: Buffer.from(base64, "base64"),
    path: `${path}.pub`,
  };
}

/** Parses known_hosts text given as lines. */
function parse(lines: string[]) {
  return parseKnownHosts(lines.join("\n"), { file: "/test/known_hosts", logger });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "bkpctl-known-hosts-"));
  [keys.ed25519, keys.other, keys.ecdsa, keys.rsa] = await Promise.all([
    makeKey("ed25519", "ed25519"),
    makeKey("other", "ed25519"),
    makeKey("ecdsa", "ecdsa"),
    makeKey("rsa", "rsa"),
  ]);
  setLogLevel("debug");
  setLogSink({ write: (line) => logLines.push(line) }, { isJournal: false });
}, 30_000);

afterAll(async () => {
  setLogSink(undefined);
  setLogLevel("info");
  await rm(dir, { recursive: true, force: true });
});

describe("checkHostKey", () => {
  type Case = {
    name: string;
    lines: () => string[];
    host: string;
    port?: number;
    key: () => TestKey;
    verdict: HostKeyVerdict;
    knownTypes?: string[];
  };
  const cases: Case[] = [
    {
      name: "a plain host on port 22 is trusted",
      lines: () => [`web01 ${keys.ed25519.text}`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "trusted",
      knownTypes: ["ssh-ed25519"],
    },
    {
      name: "host names match case-insensitively",
      lines: () => [`WEB01.Example.COM ${keys.ed25519.text}`],
      host: "web01.example.com",
      key: () => keys.ed25519,
      verdict: "trusted",
    },
    {
      name: "a plain host does not cover another port",
      lines: () => [`127.0.0.1 ${keys.ed25519.text}`],
      host: "127.0.0.1",
      port: 2222,
      key: () => keys.ed25519,
      verdict: "unknown",
      knownTypes: [],
    },
    {
      name: "[127.0.0.1]:2222 is trusted on port 2222",
      lines: () => [`[127.0.0.1]:2222 ${keys.ed25519.text}`],
      host: "127.0.0.1",
      port: 2222,
      key: () => keys.ed25519,
      verdict: "trusted",
    },
    {
      name: "[127.0.0.1]:2222 does not cover port 22",
      lines: () => [`[127.0.0.1]:2222 ${keys.ed25519.text}`],
      host: "127.0.0.1",
      key: () => keys.ed25519,
      verdict: "unknown",
    },
    {
      name: "[127.0.0.1]:2222 does not cover port 2223",
      lines: () => [`[127.0.0.1]:2222 ${keys.ed25519.text}`],
      host: "127.0.0.1",
      port: 2223,
      key: () => keys.ed25519,
      verdict: "unknown",
    },
    {
      name: "[host]:22 is not how OpenSSH names port 22",
      lines: () => [`[web01]:22 ${keys.ed25519.text}`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "unknown",
    },
    {
      name: "the first name of a comma list matches",
      lines: () => [`web01,10.0.0.5 ${keys.ed25519.text}`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "trusted",
    },
    {
      name: "the second name of a comma list matches",
      lines: () => [`web01,10.0.0.5 ${keys.ed25519.text}`],
      host: "10.0.0.5",
      key: () => keys.ed25519,
      verdict: "trusted",
    },
    {
      name: "a comma list does not match a prefix",
      lines: () => [`web01,10.0.0.5 ${keys.ed25519.text}`],
      host: "web0",
      key: () => keys.ed25519,
      verdict: "unknown",
    },
    {
      name: "a * wildcard matches a subdomain",
      lines: () => [`*.example.com ${keys.ed25519.text}`],
      host: "web01.example.com",
      key: () => keys.ed25519,
      verdict: "trusted",
    },
    {
      name: "a * wildcard needs its literal part",
      lines: () => [`*.example.com ${keys.ed25519.text}`],
      host: "example.com",
      key: () => keys.ed25519,
      verdict: "unknown",
    },
    {
      name: "a ? wildcard matches one character",
      lines: () => [`web0? ${keys.ed25519.text}`],
      host: "web07",
      key: () => keys.ed25519,
      verdict: "trusted",
    },
    {
      name: "a ? wildcard matches exactly one character",
      lines: () => [`web0? ${keys.ed25519.text}`],
      host: "web010",
      key: () => keys.ed25519,
      verdict: "unknown",
    },
    {
      name: "a wildcard can cover the [host]:port form",
      lines: () => [`[10.0.0.*]:2222 ${keys.ed25519.text}`],
      host: "10.0.0.9",
      port: 2222,
      key: () => keys.ed25519,
      verdict: "trusted",
    },
    {
      name: "dots in a pattern are literal",
      lines: () => [`10.0.0.5 ${keys.ed25519.text}`],
      host: "10a0b0c5",
      key: () => keys.ed25519,
      verdict: "unknown",
    },
    {
      name: "a negated pattern excludes a host the wildcard covers",
      lines: () => [`*.example.com,!db.example.com ${keys.ed25519.text}`],
      host: "db.example.com",
      key: () => keys.ed25519,
      verdict: "unknown",
    },
    {
      name: "a negated pattern leaves the other hosts trusted",
      lines: () => [`*.example.com,!db.example.com ${keys.ed25519.text}`],
      host: "web.example.com",
      key: () => keys.ed25519,
      verdict: "trusted",
    },
    {
      name: "a negation wins even when listed after the match",
      lines: () => [`!db.example.com,*.example.com ${keys.ed25519.text}`],
      host: "db.example.com",
      key: () => keys.ed25519,
      verdict: "unknown",
    },
    {
      name: "a revoked key is refused although it is also trusted",
      lines: () => [`web01 ${keys.ed25519.text}`, `@revoked web01 ${keys.ed25519.text}`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "revoked",
      knownTypes: ["ssh-ed25519"],
    },
    {
      name: "@revoked with a wildcard revokes the key for every host",
      lines: () => [`@revoked * ${keys.ed25519.text}`, `web01 ${keys.ed25519.text}`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "revoked",
    },
    {
      name: "revoking another key leaves the trusted one trusted",
      lines: () => [`@revoked web01 ${keys.other.text}`, `web01 ${keys.ed25519.text}`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "trusted",
    },
    {
      name: "a revoked entry alone does not make a host known",
      lines: () => [`@revoked web01 ${keys.other.text}`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "unknown",
      knownTypes: [],
    },
    {
      name: "a wrong key of the same type is a mismatch",
      lines: () => [`web01 ${keys.ed25519.text}`],
      host: "web01",
      key: () => keys.other,
      verdict: "mismatch",
      knownTypes: ["ssh-ed25519"],
    },
    {
      name: "a key when only another type is recorded is a mismatch",
      lines: () => [`web01 ${keys.rsa.text}`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "mismatch",
      knownTypes: ["ssh-rsa"],
    },
    {
      name: "a host without entries is unknown",
      lines: () => [`web02 ${keys.ed25519.text}`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "unknown",
      knownTypes: [],
    },
    {
      name: "several key types per host: ed25519",
      lines: () => [`web01 ${keys.ed25519.text}`, `web01 ${keys.ecdsa.text}`, `web01 ${keys.rsa.text}`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "trusted",
      knownTypes: ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"],
    },
    {
      name: "several key types per host: ECDSA",
      lines: () => [`web01 ${keys.ed25519.text}`, `web01 ${keys.ecdsa.text}`, `web01 ${keys.rsa.text}`],
      host: "web01",
      key: () => keys.ecdsa,
      verdict: "trusted",
    },
    {
      name: "several key types per host: RSA",
      lines: () => [`web01 ${keys.ed25519.text}`, `web01 ${keys.ecdsa.text}`, `web01 ${keys.rsa.text}`],
      host: "web01",
      key: () => keys.rsa,
      verdict: "trusted",
    },
    {
      name: "@cert-authority is never trust",
      lines: () => [`@cert-authority web01 ${keys.ed25519.text}`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "unknown",
      knownTypes: [],
    },
    {
      name: "comments and blank lines are ignored",
      lines: () => ["# fleet", "", "   ", `  web01 ${keys.ed25519.text} root@web01 comment`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "trusted",
    },
    {
      name: "hashed entry computed here for port 22",
      lines: () => [`${hashHostName("web01", 22, randomBytes(20))} ${keys.ed25519.text}`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "trusted",
    },
    {
      name: "hashed entry computed here for [127.0.0.1]:2222",
      lines: () => [`${hashHostName("127.0.0.1", 2222, randomBytes(20))} ${keys.ed25519.text}`],
      host: "127.0.0.1",
      port: 2222,
      key: () => keys.ed25519,
      verdict: "trusted",
    },
    {
      name: "hashed entry of another host does not match",
      lines: () => [`${hashHostName("web02", 22, randomBytes(20))} ${keys.ed25519.text}`],
      host: "web01",
      key: () => keys.ed25519,
      verdict: "unknown",
    },
    {
      name: "hashed [host]:port entry does not cover port 22",
      lines: () => [`${hashHostName("127.0.0.1", 2222, randomBytes(20))} ${keys.ed25519.text}`],
      host: "127.0.0.1",
      key: () => keys.ed25519,
      verdict: "unknown",
    },
  ];
  for (const item of cases) {
    test(item.name, () => {
      const entries = parse(item.lines());
      const key = item.key();
      const result = checkHostKey(entries, { host: item.host, port: item.port ?? 22, key: key.blob });
      expect(result.verdict).toBe(item.verdict);
      expect(result.keyType).toBe(key.type);
      expect(result.fingerprint).toBe(sha256Fingerprint(key.blob));
      if (item.knownTypes) expect(result.knownTypes).toEqual(item.knownTypes);
    });
  }
});

describe("known_hosts files written by ssh-keygen", () => {
  test("entries hashed by ssh-keygen -H match for port 22 and for [127.0.0.1]:2222", async () => {
    const path = join(dir, "hashed_known_hosts");
    await writeFile(path, `web01 ${keys.ed25519.text}\n[127.0.0.1]:2222 ${keys.ecdsa.text}\n`, {
      mode: 0o600,
    });
    await sshKeygen(["-H", "-f", path]);
    const text = await readFile(path, "utf8");
    expect(text).not.toContain("web01");
    expect(text).not.toContain("127.0.0.1");
    const entries = await readKnownHosts(path, logger);
    expect(entries.map((entry) => entry.hosts.kind)).toEqual(["hashed", "hashed"]);
    expect(checkHostKey(entries, { host: "web01", port: 22, key: keys.ed25519.blob }).verdict).toBe(
      "trusted",
    );
    expect(checkHostKey(entries, { host: "127.0.0.1", port: 2222, key: keys.ecdsa.blob }).verdict).toBe(
      "trusted",
    );
    expect(checkHostKey(entries, { host: "127.0.0.1", port: 2222, key: keys.ed25519.blob }).verdict).toBe(
      "mismatch",
    );
    expect(checkHostKey(entries, { host: "web02", port: 22, key: keys.ed25519.blob }).verdict).toBe(
      "unknown",
    );
  });

  test("a hashed entry computed here is found by ssh-keygen -F", async () => {
    const path = join(dir, "computed_known_hosts");
    await writeFile(path, `${hashHostName("127.0.0.1", 2222, randomBytes(20))} ${keys.rsa.text}\n`);
    expect(await sshKeygen(["-F", "[127.0.0.1]:2222", "-f", path])).toContain(
      keys.rsa.text.split(" ")[1] ?? "-",
    );
  });

  test("sha256Fingerprint equals ssh-keygen -l for every key type", async () => {
    for (const key of Object.values(keys)) {
      const listed = await sshKeygen(["-l", "-E", "sha256", "-f", key.path]);
      expect(listed.split(" ")[1]).toBe(sha256Fingerprint(key.blob));
    }
  });

  test("formatKnownHostsLine writes lines that ssh-keygen -F finds and that check as trusted", async () => {
    const path = join(dir, "formatted_known_hosts");
    const lines = [
      formatKnownHostsLine("Web01", 22, keys.ed25519.type, keys.ed25519.blob),
      formatKnownHostsLine("127.0.0.1", 2222, keys.rsa.type, keys.rsa.blob),
    ];
    expect(lines[0]).toBe(`web01 ${keys.ed25519.text}`);
    expect(lines[1]).toBe(`[127.0.0.1]:2222 ${keys.rsa.text}`);
    await writeFile(path, `${lines.join("\n")}\n`);
    expect(await sshKeygen(["-F", "[127.0.0.1]:2222", "-f", path])).toContain(lines[1] ?? "-");
    const entries = parse(lines);
    expect(checkHostKey(entries, { host: "web01", port: 22, key: keys.ed25519.blob }).verdict).toBe(
      "trusted",
    );
    expect(knownKeyTypes(entries, "127.0.0.1", 2222)).toEqual(["ssh-rsa"]);
  });

  test("a missing known_hosts file is an error that points at server trust, never an empty trust list", async () => {
    const missing = join(dir, "absent_known_hosts");
    const error = await readKnownHosts(missing, logger).catch((caught: unknown) => caught);
    expect(String(error)).toContain(`known_hosts file "${missing}" does not exist`);
    expect((error as { hint?: string }).hint).toContain("backupctl server trust");
  });

  test("a known_hosts file that others can write is refused", async () => {
    const path = join(dir, "writable_known_hosts");
    await writeFile(path, `web01 ${keys.ed25519.text}\n`);
    await chmod(path, 0o666);
    await expect(readKnownHosts(path, logger)).rejects.toThrow("mode 0666 lets other users change it");
  });
});

describe("malformed known_hosts lines", () => {
  test("are skipped with a warning naming file:line, and the good lines still count", () => {
    logLines.length = 0;
    const [, base64] = keys.ed25519.text.split(" ") as [string, string];
    const entries = parse([
      `web01 ${keys.ed25519.text}`,
      "web02",
      `web03 ssh-ed25519 not*base64`,
      `web04 ssh-rsa ${base64}`,
      `@bogus web05 ${keys.ed25519.text}`,
      `|1|c2FsdA==|aGFzaA== ${keys.ed25519.text}`,
      "web06 1024 35 1234567890",
      `web07 ssh-ed25519 ${Buffer.from("garbage").toString("base64")}`,
      `web08 ${keys.rsa.text}`,
    ]);
    expect(entries.map((entry) => entry.line)).toEqual([1, 9]);
    const warnings = logLines.filter((line) => line.includes("WARN"));
    expect(warnings).toHaveLength(7);
    for (const [index, line] of [2, 3, 4, 5, 6, 7, 8].entries())
      expect(warnings[index]).toContain(`/test/known_hosts:${line}:`);
    expect(warnings[2]).toContain('key type "ssh-rsa" does not match the key, which is "ssh-ed25519"');
    expect(warnings[3]).toContain('unknown marker "@bogus"');
    expect(checkHostKey(entries, { host: "web08", port: 22, key: keys.rsa.blob }).verdict).toBe("trusted");
  });

  test("@cert-authority lines are ignored with a debug message, not a warning", () => {
    logLines.length = 0;
    parse([`@cert-authority *.example.com ${keys.ed25519.text}`]);
    expect(logLines.some((line) => line.includes("DEBUG") && line.includes("/test/known_hosts:1"))).toBe(
      true,
    );
    expect(logLines.some((line) => line.includes("WARN"))).toBe(false);
  });
});
