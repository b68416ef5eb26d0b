// Paced garbage collection for the long byte streams (the SFTP download, the client's read-back).
// JavaScriptCore frees the buffers a stream allocates for every chunk lazily, so a process moving a
// gigabyte grows by hundreds of MiB although only a few are live. A full collection keeps the peak
// flat, but each one costs more than its own time: the allocator then hands the freed pages back to
// the kernel and every later buffer faults them in again. So a stream collects only when the
// process has grown past a budget, looking at its resident set every few MiB (docs/performance.md:
// a fixed collection every 16 MiB cost the 1 GiB pull ~0.4 s against the budget, at the same peak).

/** When a stream runs a full collection. */
export interface CollectionPace {
  /** Bytes between two looks at the resident set. */
  checkEveryBytes: number;
  /** Collect when the resident set is above this many bytes (0: at every look). */
  rssLimitBytes: number;
  /** Bytes after a collection before the next look: never collects more often than this. */
  minIntervalBytes: number;
}

/** Streams collect once the process is past 160 MiB (the pull's target is a 200 MiB peak, the idle binary ~65 MiB). */
export const defaultCollectionPace: CollectionPace = {
  checkEveryBytes: 4 * 1024 * 1024,
  rssLimitBytes: 160 * 1024 * 1024,
  minIntervalBytes: 16 * 1024 * 1024,
};

/** Returns a counter of stream bytes that runs a full collection at the given pace (false: never). */
export function pacedCollector(pace: CollectionPace | false): (bytes: number) => void {
  if (pace === false) return () => undefined;
  let untilNextLook = pace.checkEveryBytes;
  return (bytes) => {
    untilNextLook -= bytes;
    if (untilNextLook > 0) return;
    if (pace.rssLimitBytes > 0 && process.memoryUsage.rss() <= pace.rssLimitBytes) {
      untilNextLook = pace.checkEveryBytes;
      return;
    }
    Bun.gc(true);
    untilNextLook = Math.max(pace.checkEveryBytes, pace.minIntervalBytes);
  };
}
