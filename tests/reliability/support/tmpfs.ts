// Small filesystems for disk-full tests (the catalogue's H4): a tmpfs with a byte and inode limit
// mounted on a directory of the test's temp dir (this suite runs as root), resizable, unmounted at
// the end.

import { mkdirSync, statfsSync } from "node:fs";
import { runSync } from "../../e2e/fixtures.ts";

/** A mounted tmpfs. */
export interface SmallFilesystem {
  path: string;
  /** Bytes and inodes in use now. */
  usage(): { bytes: number; inodes: number };
  /** Changes the limits (mount -o remount). */
  resize(options: string): void;
  unmount(): void;
}

/** Mounts a tmpfs with options such as "size=16m,nr_inodes=400" on path (created 0700). */
export function mountSmallFilesystem(path: string, options: string): SmallFilesystem {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  runSync(["mount", "-t", "tmpfs", "-o", `${options},mode=0700`, "tmpfs", path]);
  let isMounted = true;
  return {
    path,
    usage() {
      const stat = statfsSync(path);
      return { bytes: (stat.blocks - stat.bfree) * stat.bsize, inodes: stat.files - stat.ffree };
    },
    resize(newOptions) {
      runSync(["mount", "-o", `remount,${newOptions}`, path]);
    },
    unmount() {
      if (!isMounted) return;
      isMounted = false;
      Bun.spawnSync(["umount", "--lazy", path]);
    },
  };
}
