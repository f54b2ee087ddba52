import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
  existsSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { exists, fromSystemError } from "../util/errors.js";

/**
 * An image being rebuilt: a sparse temporary file beside the target, written at offsets (zero
 * runs are simply not written, so they stay holes), fsynced and renamed into place only when
 * complete. A crash or an error leaves the target untouched.
 */
export class ImageFile {
  private fd: number;
  readonly tmp: string;

  constructor(
    readonly target: string,
    size: number,
    force: boolean,
  ) {
    if (!force && existsSync(target)) throw exists(`${target} already exists (use --force to overwrite it)`);
    this.tmp = join(dirname(target), `.${basename(target)}.nitro-${process.pid}.tmp`);
    try {
      this.fd = openSync(this.tmp, "w", 0o644);
      ftruncateSync(this.fd, size);
    } catch (err) {
      throw fromSystemError(err, target);
    }
  }

  write(buf: Buffer, offset: number): void {
    try {
      let done = 0;
      while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done, offset + done);
    } catch (err) {
      throw fromSystemError(err, this.target);
    }
  }

  finish(): void {
    fdatasyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
    renameSync(this.tmp, this.target);
    const dirFd = openSync(dirname(this.target), "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }

  abort(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    try {
      unlinkSync(this.tmp);
    } catch {
      /* already gone */
    }
  }
}
