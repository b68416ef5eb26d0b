// Room in local_temp_base_dir for the unpacks of one `server pull`. With global.concurrency above 1,
// hosts that each find enough free space could still fill the disk together, so each unpack reserves
// its estimate, and one that fits only without the others' reservations waits until one of them is
// released (its unpacked data removed). It fails only when it does not fit with nothing else reserved.

import { BackupError } from "../../lib/errors.ts";
import { availableBytes, notEnoughSpaceError, requiredBytes, spaceFigures } from "../../lib/free-space.ts";

const mebibyte = 1024 * 1024;

/** One host's request for room. */
export interface SpaceRequest {
  /** The unpack's estimate. */
  bytes: number;
  /** Names the unpack in messages: `unpacking "web01-….tar.gz"`. */
  purpose: string;
  /** The fix when it cannot fit at all. */
  hint: string;
  signal: AbortSignal;
  /** Told once when the request has to wait for other hosts. */
  onWait?: (message: string) => void;
}

/** The reservations of the unpacks running in this process, on one directory. Stateful. */
export class UnpackSpace {
  private readonly directory: string;
  private readonly minFreeMb: number;
  private readonly measure: (path: string) => Promise<number>;
  private reservedBytes = 0;
  private readonly sleepers = new Set<() => void>();

  /** measure returns the bytes available at a path (default statfs); tests give their own. */
  constructor(
    directory: string,
    minFreeMb: number,
    measure: (path: string) => Promise<number> = availableBytes,
  ) {
    this.directory = directory;
    this.minFreeMb = minFreeMb;
    this.measure = measure;
  }

  /**
   * Reserves request.bytes and returns the function that releases them (idempotent). Throws
   * BackupError when they do not fit beside min_free_space_mb with nothing else reserved, or when the
   * signal aborts while waiting.
   */
  async reserve(request: SpaceRequest): Promise<() => void> {
    const figures = { minFreeMb: this.minFreeMb, neededBytes: request.bytes };
    const required = requiredBytes(figures);
    let hasWaited = false;
    while (true) {
      if (request.signal.aborted) {
        throw new BackupError(`Stopped waiting for room for ${request.purpose}: the run was interrupted`);
      }
      const available = await this.measure(this.directory);
      if (available - this.reservedBytes >= required) {
        this.reservedBytes += request.bytes;
        return this.releaser(request.bytes);
      }
      if (this.reservedBytes === 0) {
        throw notEnoughSpaceError(this.directory, available, {
          ...figures,
          purpose: request.purpose,
          hint: request.hint,
        });
      }
      if (!hasWaited) {
        hasWaited = true;
        const { free, needed } = spaceFigures(available, figures);
        request.onWait?.(
          `Waiting for room in "${this.directory}" for ${request.purpose}: ${free}, ${Math.ceil(this.reservedBytes / mebibyte)} MiB of it reserved by hosts unpacking now, ${needed}`,
        );
      }
      await this.sleepUntilRelease(request.signal);
    }
  }

  private releaser(bytes: number): () => void {
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      this.reservedBytes -= bytes;
      for (const wake of [...this.sleepers]) wake();
    };
  }

  /** Resolves at the next release, or when signal aborts. */
  private sleepUntilRelease(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.sleepers.delete(wake);
        signal.removeEventListener("abort", wake);
        resolve();
      };
      this.sleepers.add(wake);
      signal.addEventListener("abort", wake, { once: true });
    });
  }
}
