// Paced garbage collection for the long byte streams (the SFTP download, the client's read-back).
// JavaScriptCore frees the buffers a stream allocates for every chunk lazily, so a process moving a
// gigabyte grows by hundreds of MiB although only a few are live; a full collection after every few
// dozen MiB keeps the peak flat (measured in docs/performance.md).

/** Returns a counter that runs a full collection each time everyBytes more have been counted (0: never). */
export function collectGarbageEvery(everyBytes: number): (bytes: number) => void {
  let sinceLastCollection = 0;
  return (bytes) => {
    if (everyBytes <= 0) return;
    sinceLastCollection += bytes;
    if (sinceLastCollection < everyBytes) return;
    sinceLastCollection = 0;
    Bun.gc(true);
  };
}
