import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
  accessSync,
  constants,
  statSync,
  type Stats,
} from "node:fs";
import { dirname, resolve } from "node:path";
import { FlushAhead } from "../util/flush-ahead.js";
import { Exit, NitroError, exists, fromSystemError, notFound, usage } from "../util/errors.js";
import {
  forgetTemporary,
  removeStaleTemporaries,
  temporaryPath,
  trackTemporary,
} from "../util/temp-files.js";

/**
 * Checks, before any work, that target can be written: its directory exists and is writable, and
 * (unless force) target does not exist yet. `pull -o` calls it before fetching anything.
 */
export function checkOutputTarget(target: string, force: boolean): void {
  const dir = dirname(resolve(target));
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (err) {
    throw fromSystemError(err, `output directory ${dir}`);
  }
  if (!st.isDirectory()) throw notFound(`output directory ${dir}: not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EROFS")
      throw new NitroError(Exit.FAILURE, `output directory ${dir}: read-only file system`);
    throw fromSystemError(err, `output directory ${dir}`);
  }
  let existing: Stats | undefined;
  try {
    existing = statSync(target);
  } catch {
    existing = undefined;
  }
  if (existing?.isDirectory()) throw usage(`${target}: is a directory`);
  if (existing && !force) throw exists(`${target} already exists (use --force to overwrite it)`);
}

/**
 * An image being rebuilt: a sparse temporary file beside the target, written at offsets (zero
 * runs are simply not written, so they stay holes), fsynced and renamed into place only when
 * complete. A crash or an error leaves the target untouched.
 */
/** Bytes written between background syncs: the final one then has little left to write. */
const FLUSH_AHEAD = 64 * 1024 * 1024;

export class ImageFile {
  private fd = -1;
  readonly tmp: string;
  private flush!: FlushAhead;

  constructor(
    readonly target: string,
    size: number,
    force: boolean,
  ) {
    checkOutputTarget(target, force);
    removeStaleTemporaries(dirname(target));
    this.tmp = temporaryPath(target);
    // Tracked before it is created: a SIGTERM between the two would leave it behind.
    trackTemporary(this.tmp);
    try {
      this.fd = openSync(this.tmp, "w", 0o644);
      ftruncateSync(this.fd, size);
      this.flush = new FlushAhead(this.fd, FLUSH_AHEAD);
    } catch (err) {
      this.abort();
      forgetTemporary(this.tmp);
      throw fromSystemError(err, target);
    }
  }

  /** The open temporary, for writers on other threads (export's workers). */
  get descriptor(): number {
    return this.fd;
  }

  write(buf: Buffer, offset: number): void {
    try {
      let done = 0;
      while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done, offset + done);
    } catch (err) {
      throw fromSystemError(err, this.target);
    }
    this.wrote(buf.length);
  }

  /** Counts bytes written to the descriptor by others (another thread). */
  wrote(bytes: number): void {
    this.flush.wrote(bytes);
  }

  finish(): void {
    try {
      this.flush.throwError();
      fdatasyncSync(this.fd);
    } catch (err) {
      throw fromSystemError(err, this.target);
    }
    closeSync(this.fd);
    this.fd = -1;
    renameSync(this.tmp, this.target);
    forgetTemporary(this.tmp);
    const dirFd = openSync(dirname(this.target), "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }

  abort(): void {
    if (this.fd < 0) return;
    this.discard();
    this.close();
  }

  /** Removes the temporary but keeps the descriptor open (writes still in flight land nowhere). */
  discard(): void {
    try {
      unlinkSync(this.tmp);
    } catch {
      /* already gone */
    }
    forgetTemporary(this.tmp);
  }

  /** Closes the descriptor (after discard(): nothing can write to a number reused by then). */
  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}
