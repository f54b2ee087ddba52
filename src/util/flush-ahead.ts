import { fdatasync } from "node:fs";

/**
 * Write-back started ahead of the final sync: every `every` bytes written to a file, an fdatasync
 * on libuv's thread pool, not waited for (never two at once), so that the sync the caller waits
 * for at the end finds little left to write. Its failure is kept for that sync: the kernel reports
 * a write-back error to one fsync only.
 */
export class FlushAhead {
  private unflushed = 0;
  private flushing = false;
  private error: Error | undefined;

  constructor(
    private readonly fd: number,
    private readonly every: number,
  ) {}

  wrote(bytes: number): void {
    this.unflushed += bytes;
    if (this.flushing || this.unflushed < this.every) return;
    this.flushing = true;
    this.unflushed = 0;
    fdatasync(this.fd, (err) => {
      this.flushing = false;
      if (err) this.error ??= err;
    });
  }

  /** Throws what a background sync met, if anything. */
  throwError(): void {
    if (this.error) throw this.error;
  }
}
