// Manual measurement of unpackArchive on a real archive (not a test; scripts/bench owns the suite):
//   /usr/bin/time -v bun tests/unit/unpack/unpackBench.ts ARCHIVE TARGET [inline|process]
// TARGET must not exist and its parent must be 0700. Prints one JSON line with the timing.

import { createReadStream } from "node:fs";
import { Logger } from "../../../mod/lib/log.ts";
import { removeTree } from "../../../mod/server/unpack/target-directory.ts";
import { unpackArchive } from "../../../mod/server/unpack/unpack-archive.ts";

const [archivePath, target, mode = "inline"] = process.argv.slice(2);
if (!archivePath || !target || (mode !== "process" && mode !== "inline")) {
  console.error("usage: unpackBench.ts ARCHIVE TARGET [inline|process]");
  process.exit(2);
}
const compression = archivePath.endsWith(".zst") ? "zstd" : "gzip";
const startedAt = performance.now();
try {
  const result = await unpackArchive(createReadStream(archivePath, { highWaterMark: 256 * 1024 }), {
    targetDir: target,
    compression,
    maxBytes: 64 * 1024 ** 3,
    maxEntries: 10_000_000,
    logger: new Logger("bench"),
    decompressor: mode,
  });
  const seconds = (performance.now() - startedAt) / 1000;
  console.log(
    JSON.stringify({
      mode,
      compression,
      seconds: Number(seconds.toFixed(3)),
      ...result,
      manifest: undefined,
    }),
  );
} catch (error) {
  await removeTree(target);
  throw error;
}
// exit at once: a finished command's stderr-drain timer in lib/exec would otherwise hold the loop ~2 s
if (!process.env.NO_EXIT) process.exit(0);
