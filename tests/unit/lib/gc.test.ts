import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { defaultCollectionPace, pacedCollector } from "../../../mod/lib/gc.ts";

const MiB = 1024 * 1024;
const pace = { checkEveryBytes: 4 * MiB, rssLimitBytes: 160 * MiB, minIntervalBytes: 16 * MiB };

/** Fakes the resident set the collector reads, and counts the collections. */
function fakeProcess(rssBytes: () => number) {
  const rss = spyOn(process.memoryUsage, "rss").mockImplementation(rssBytes);
  const collect = spyOn(Bun, "gc").mockImplementation(() => 0);
  return { rss, collect };
}

describe("pacedCollector", () => {
  let restore: (() => void)[] = [];
  afterEach(() => {
    for (const undo of restore) undo();
    restore = [];
  });

  test("looks at the resident set every checkEveryBytes and collects only above the limit", () => {
    let resident = 100 * MiB;
    const { rss, collect } = fakeProcess(() => resident);
    restore.push(
      () => rss.mockRestore(),
      () => collect.mockRestore(),
    );
    const count = pacedCollector(pace);
    count(3 * MiB);
    expect(rss).not.toHaveBeenCalled();
    count(1 * MiB);
    expect(rss).toHaveBeenCalledTimes(1);
    count(40 * MiB);
    expect(collect).not.toHaveBeenCalled();
    resident = 170 * MiB;
    count(4 * MiB);
    expect(collect.mock.calls).toEqual([[true]]);
  });

  test("never collects more often than minIntervalBytes, even while the process stays above the limit", () => {
    const { rss, collect } = fakeProcess(() => 300 * MiB);
    restore.push(
      () => rss.mockRestore(),
      () => collect.mockRestore(),
    );
    const count = pacedCollector(pace);
    for (let index = 0; index < 64; index++) count(1 * MiB);
    // the first look at 4 MiB, then one every 16 MiB: 4, 20, 36, 52
    expect(collect).toHaveBeenCalledTimes(4);
  });

  test("a limit of 0 collects at every look, and false never", () => {
    const { rss, collect } = fakeProcess(() => 1 * MiB);
    restore.push(
      () => rss.mockRestore(),
      () => collect.mockRestore(),
    );
    const always = pacedCollector({ checkEveryBytes: MiB, rssLimitBytes: 0, minIntervalBytes: MiB });
    for (let index = 0; index < 3; index++) always(MiB);
    expect(collect).toHaveBeenCalledTimes(3);
    expect(rss).not.toHaveBeenCalled();
    collect.mockClear();
    const never = pacedCollector(false);
    for (let index = 0; index < 100; index++) never(100 * MiB);
    expect(collect).not.toHaveBeenCalled();
  });

  test("the default budget leaves room below the pull's 200 MiB target", () => {
    expect(defaultCollectionPace.rssLimitBytes).toBeLessThanOrEqual(170 * MiB);
    expect(defaultCollectionPace.minIntervalBytes).toBeGreaterThanOrEqual(
      defaultCollectionPace.checkEveryBytes,
    );
  });
});
