// Where the benchmark writes: by default a fresh ext4 filesystem with a journal, loop-mounted from a
// sparse image in the work dir, so every run starts on the same kind of disk whatever the host has.
//
// Why: on ext4 without a journal (the root filesystem of some VMs, this project's build machine
// among them) the inode allocator skips every inode freed in the last 30 s, reading its inode-table
// block each time (fs/ext4/ialloc.c, recently_deleted). Creating 33 000 files within 30 s of deleting
// 33 000 others then costs 20-25 s of system time instead of 1-2 s, so whichever step follows a
// large `rm -rf` is slowed by an amount that depends only on what ran before it. A journaled ext4
// does not do this check; it is also what a backup server usually has.

import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { runChecked } from "./environment.ts";

/** The filesystem the benchmark runs on. */
export interface BenchFilesystem {
  /** Directory to work in. */
  root: string;
  /** For the results: "ext4 (journaled, loop-mounted scratch image)" or what the host directory is on. */
  description: string;
  /** Unmounts and removes the scratch image; nothing for the host directory. Idempotent. */
  release(): void;
}

/** Returns the mount entry of mountPoint in /proc/mounts, or undefined. */
function mountEntry(mountPoint: string): string | undefined {
  const absolute = resolve(mountPoint);
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .find((line) => line.split(" ")[1] === absolute);
}

/** Returns the filesystem type of the mount holding path, and whether it has a journal when ext4. */
export function describeHostFilesystem(path: string): string {
  const type = runChecked(["stat", "--file-system", "--format=%T", path]).trim();
  const source = runChecked(["findmnt", "--noheadings", "--output=SOURCE", "--target", path]).trim();
  if (!type.startsWith("ext")) return `${type} (${source})`;
  // jbd2 lists every journaled ext4 device by name
  const device = source.replace(/^\/dev\//, "");
  const journals = existsSync("/proc/fs/jbd2") ? readdirSync("/proc/fs/jbd2") : [];
  const isJournaled = journals.some((name) => name.startsWith(`${device}-`));
  return `ext4 ${isJournaled ? "with" : "without"} a journal (${source})`;
}

/** Uses the work dir as it is (--filesystem host). */
export function useHostFilesystem(workDir: string): BenchFilesystem {
  mkdirSync(workDir, { recursive: true });
  return { root: workDir, description: describeHostFilesystem(workDir), release() {} };
}

/**
 * Creates a sparse image of imageBytes in workDir, makes a journaled ext4 on it (inode tables written
 * now, so no background initialisation runs during the measurements) and mounts it. Throws when
 * mkfs or mount fails (no loop devices, not root): --filesystem host then runs on the work dir itself.
 */
export function mountScratchFilesystem(workDir: string, imageBytes: number): BenchFilesystem {
  mkdirSync(workDir, { recursive: true });
  const image = join(workDir, "scratch.ext4");
  const mountPoint = join(workDir, "scratch");
  // a run that was killed left its mount
  if (mountEntry(mountPoint)) runChecked(["umount", mountPoint]);
  rmSync(image, { force: true });
  const fd = openSync(image, "w", 0o600);
  try {
    ftruncateSync(fd, imageBytes);
  } finally {
    closeSync(fd);
  }
  runChecked([
    "mkfs.ext4",
    "-q",
    "-F",
    "-i",
    "32768",
    "-E",
    "lazy_itable_init=0,lazy_journal_init=0,nodiscard",
    image,
  ]);
  mkdirSync(mountPoint, { recursive: true, mode: 0o755 });
  try {
    runChecked(["mount", "-o", "loop", image, mountPoint]);
  } catch (error) {
    rmSync(image, { force: true });
    throw new Error(
      `cannot mount the scratch filesystem (${error instanceof Error ? error.message.split("\n")[0] : String(error)}); run with --filesystem host to use the work dir as it is`,
    );
  }
  let isReleased = false;
  return {
    root: mountPoint,
    description: `ext4 with a journal, loop-mounted ${Math.round(statSync(image).size / 1024 ** 3)} GiB sparse image in ${workDir} (host: ${describeHostFilesystem(workDir)})`,
    release() {
      if (isReleased) return;
      isReleased = true;
      if (mountEntry(mountPoint)) {
        try {
          runChecked(["umount", mountPoint]);
        } catch {
          // a process the benchmark started is still in there (a failed start-up leaves one): detach
          // now, the kernel frees the filesystem when it exits
          process.stderr.write(`bench: ${mountPoint} is busy; unmounting it lazily\n`);
          runChecked(["umount", "--lazy", mountPoint]);
        }
      }
      rmSync(image, { force: true });
    },
  };
}
