// UnpackSpace: the room reservations the hosts of one pull share in local_temp_base_dir, against a
// measured free space the test sets (no filesystem is filled).
import { describe, expect, test } from "bun:test";
import { BackupError } from "../../../mod/lib/errors.ts";
import { UnpackSpace } from "../../../mod/server/unpack/space.ts";

const mebibyte = 1024 * 1024;

/** A space of `freeMb` MiB free with min_free_space_mb 100, whose free space the test changes. */
function space(freeMb: number) {
  const disk = { free: freeMb * mebibyte };
  const unpackSpace = new UnpackSpace("/srv/unpack", 100, async () => disk.free);
  const waits: string[] = [];
  const request = (megabytes: number, signal = new AbortController().signal) => ({
    bytes: megabytes * mebibyte,
    purpose: `unpacking ${megabytes} MiB`,
    hint: "free space",
    signal,
    onWait: (message: string) => waits.push(message),
  });
  return { disk, unpackSpace, waits, request };
}

/** Resolves to "pending" when promise has not settled after the microtasks and a macrotask have run. */
async function settled(promise: Promise<unknown>): Promise<"resolved" | "rejected" | "pending"> {
  let state: "resolved" | "rejected" | "pending" = "pending";
  promise.then(
    () => (state = "resolved"),
    () => (state = "rejected"),
  );
  await Bun.sleep(5);
  return state;
}

describe("UnpackSpace", () => {
  test("two unpacks that fit together both go at once", async () => {
    const { unpackSpace, request, waits } = space(1000);
    await unpackSpace.reserve(request(400));
    await unpackSpace.reserve(request(400));
    expect(waits).toEqual([]);
  });

  test("an unpack that fits only without the other's reservation waits for its release, once told", async () => {
    const { unpackSpace, request, waits } = space(1000);
    const releaseFirst = await unpackSpace.reserve(request(600));
    const second = unpackSpace.reserve(request(600));
    expect(await settled(second)).toBe("pending");
    expect(waits).toEqual([
      'Waiting for room in "/srv/unpack" for unpacking 600 MiB: 1000 MiB free, 600 MiB of it reserved by hosts unpacking now, 700 MiB needed (min_free_space_mb 100 + 600 MiB estimated)',
    ]);
    releaseFirst();
    releaseFirst();
    expect(await settled(second)).toBe("resolved");
  });

  test("a release re-measures: a waiter still too large for the disk after it fails, naming the numbers", async () => {
    const { disk, unpackSpace, request } = space(1000);
    const releaseFirst = await unpackSpace.reserve(request(600));
    const second = unpackSpace.reserve(request(700));
    expect(await settled(second)).toBe("pending");
    disk.free = 500 * mebibyte;
    releaseFirst();
    const error = await second.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).message).toBe(
      'Not enough free space in "/srv/unpack" for unpacking 700 MiB: 500 MiB free, 800 MiB needed (min_free_space_mb 100 + 700 MiB estimated)',
    );
    expect((error as BackupError).hint).toBe("free space");
  });

  test("an unpack too large with nothing else reserved fails at once", async () => {
    const { unpackSpace, request, waits } = space(500);
    await expect(unpackSpace.reserve(request(450))).rejects.toThrow(/Not enough free space.*550 MiB needed/);
    expect(waits).toEqual([]);
  });

  test("an abort ends the wait", async () => {
    const { unpackSpace, request } = space(1000);
    await unpackSpace.reserve(request(600));
    const controller = new AbortController();
    const second = unpackSpace.reserve(request(600, controller.signal));
    expect(await settled(second)).toBe("pending");
    controller.abort();
    await expect(second).rejects.toThrow(
      /Stopped waiting for room for unpacking 600 MiB: the run was interrupted/,
    );
  });
});
