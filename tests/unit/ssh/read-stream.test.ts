// The pipelined SFTP read stream against a scripted fake SFTP server: order, short reads, read-ahead
// bounds, backpressure and the idle timeout, without network timing in the way.
import { describe, expect, spyOn, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import type { SFTPWrapper } from "ssh2";
import { SftpReadStream } from "../../../mod/ssh/read-stream.ts";

/** Behaviour of the fake server. */
interface FakeOptions {
  /** Largest answer to one read (short reads below the requested length). */
  maxAnswer?: number;
  /** Answer reads after a random delay up to this many ms, so they complete out of order. */
  maxDelayMs?: number;
  /** Stop answering once this many bytes have been served. */
  stallAfterBytes?: number;
  /** Answer the read at this position with an error. */
  failAtPosition?: number;
  /** Fail the open like a missing file. */
  isMissing?: boolean;
}

/** A fake SFTPWrapper serving one buffer; it records what was asked of it. */
function fakeSftp(data: Buffer, options: FakeOptions = {}) {
  const record = { outstanding: 0, maxOutstanding: 0, requestedBytes: 0, servedBytes: 0, closed: 0 };
  const sftp = {
    open(_path: string, _flags: string, callback: (error: Error | undefined, handle: Buffer) => void) {
      if (options.isMissing)
        return setTimeout(
          () => callback(Object.assign(new Error("No such file"), { code: 2 }), Buffer.alloc(0)),
          1,
        );
      setTimeout(() => callback(undefined, Buffer.from("handle")), 1);
    },
    read(
      _handle: Buffer,
      buffer: Buffer,
      offset: number,
      length: number,
      position: number,
      callback: (error: Error | undefined, bytesRead: number) => void,
    ) {
      record.outstanding++;
      record.maxOutstanding = Math.max(record.maxOutstanding, record.outstanding);
      record.requestedBytes += length;
      if (options.stallAfterBytes !== undefined && record.servedBytes >= options.stallAfterBytes) return;
      const answer = () => {
        record.outstanding--;
        if (position === options.failAtPosition) return callback(new Error("Failure"), 0);
        const count = Math.max(0, Math.min(length, options.maxAnswer ?? length, data.length - position));
        if (count > 0) data.copy(buffer, offset, position, position + count);
        record.servedBytes += count;
        callback(undefined, count);
      };
      setTimeout(answer, Math.random() * (options.maxDelayMs ?? 0));
    },
    close(_handle: Buffer, callback: () => void) {
      record.closed++;
      callback();
    },
  };
  return { sftp: sftp as unknown as SFTPWrapper, record };
}

/** Returns the sha256 of everything the stream yields. */
async function digest(stream: SftpReadStream): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const baseOptions = { idleTimeoutMs: 5000, chunkSize: 4096, concurrency: 8, description: '"/a" on test:22' };

describe("SftpReadStream", () => {
  test("delivers the file in order although reads complete out of order and come back short", async () => {
    const data = randomBytes(1_000_003);
    const { sftp, record } = fakeSftp(data, { maxAnswer: 1500, maxDelayMs: 2 });
    expect(await digest(new SftpReadStream(sftp, "/a", baseOptions))).toBe(sha256(data));
    expect(record.maxOutstanding).toBeGreaterThan(1);
    expect(record.maxOutstanding).toBeLessThanOrEqual(8);
    expect(record.closed).toBe(1);
  });

  test("starts at the given offset", async () => {
    const data = randomBytes(100_000);
    const { sftp } = fakeSftp(data, { maxDelayMs: 1 });
    expect(await digest(new SftpReadStream(sftp, "/a", { ...baseOptions, start: 12_345 }))).toBe(
      sha256(data.subarray(12_345)),
    );
  });

  test("an empty file ends without data", async () => {
    const { sftp } = fakeSftp(Buffer.alloc(0));
    expect(await digest(new SftpReadStream(sftp, "/a", baseOptions))).toBe(sha256(Buffer.alloc(0)));
  });

  test("stops requesting data while the consumer does not read", async () => {
    const data = randomBytes(10_000_000);
    const { sftp, record } = fakeSftp(data);
    const stream = new SftpReadStream(sftp, "/a", { ...baseOptions, highWaterMark: 64 * 1024 });
    // the consumer takes one chunk and then stops reading
    stream.once("data", () => stream.pause());
    await Bun.sleep(200);
    // what the Readable buffers plus one full request window, far below the 10 MB file
    expect(record.requestedBytes).toBeLessThanOrEqual(64 * 1024 + 2 * 8 * 4096);
    expect(record.requestedBytes).toBeGreaterThan(0);
    stream.destroy();
  });

  test("fails with a stall error when the server stops answering for idleTimeoutMs", async () => {
    const data = randomBytes(1_000_000);
    const { sftp, record } = fakeSftp(data, { stallAfterBytes: 100_000 });
    const started = performance.now();
    const error = await digest(new SftpReadStream(sftp, "/a", { ...baseOptions, idleTimeoutMs: 300 })).catch(
      (caught: unknown) => caught,
    );
    const elapsed = performance.now() - started;
    expect(String(error)).toContain('Reading "/a" on test:22 stalled: no data for 0.3 s');
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1500);
    expect(record.closed).toBe(1);
  });

  test("a failed read fails the stream, naming the file and the reason", async () => {
    const { sftp } = fakeSftp(randomBytes(100_000), { failAtPosition: 8192 });
    await expect(digest(new SftpReadStream(sftp, "/a", baseOptions))).rejects.toThrow(
      'Cannot read "/a" on test:22: Failure',
    );
  });

  test("a missing file fails at open with the SFTP status kept as the cause", async () => {
    const { sftp } = fakeSftp(Buffer.alloc(0), { isMissing: true });
    const error = await digest(new SftpReadStream(sftp, "/a", baseOptions)).catch(
      (caught: unknown) => caught,
    );
    expect(String(error)).toContain('Cannot open "/a" on test:22: No such file');
    expect(((error as Error).cause as { code?: number }).code).toBe(2);
  });

  test("runs full garbage collections at the given pace, and none when it is false", async () => {
    const data = randomBytes(100_000);
    const collect = spyOn(Bun, "gc");
    try {
      const pace = { checkEveryBytes: 40_000, rssLimitBytes: 0, minIntervalBytes: 40_000 };
      const every = { ...baseOptions, garbageCollection: pace };
      expect(await digest(new SftpReadStream(fakeSftp(data).sftp, "/a", every))).toBe(sha256(data));
      expect(collect.mock.calls).toEqual([[true], [true]]);
      collect.mockClear();
      const never = { ...baseOptions, garbageCollection: false as const };
      expect(await digest(new SftpReadStream(fakeSftp(data).sftp, "/a", never))).toBe(sha256(data));
      expect(collect).not.toHaveBeenCalled();
    } finally {
      collect.mockRestore();
    }
  });
});
