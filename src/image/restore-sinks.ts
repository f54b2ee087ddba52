import { writeSync } from "node:fs";
import type { Writable } from "node:stream";
import { fromSystemError } from "../util/errors.js";
import type { Store } from "../store/store.js";
import { LOC_FIELDS, RUN_FIELDS, type RestoreJob } from "./restore-plan.js";
import type { ImageFile } from "./image-file.js";

/** Where restored jobs go, in image order. */
export interface RestoreSink {
  /** A file descriptor the workers write the runs to themselves, or -1. */
  readonly fd: number;
  /** For messages. */
  readonly name: string;
  /** Output bytes accounted for so far. */
  readonly done: number;
  /** A job whose buffer is filled (and, with fd >= 0, written). */
  take(job: RestoreJob, buf: ArrayBuffer): Promise<void>;
  finish(): Promise<void>;
}

/** The runs' end in the output: how far a job has brought it. */
function jobEnd(job: RestoreJob): number {
  const r = job.runs.length - RUN_FIELDS;
  return job.runs[r]! + job.runs[r + 2]!;
}

/**
 * An ImageFile written at offsets by this thread, one large write per run, while the workers
 * decode the next jobs (two threads writing the one file only contend for its inode lock);
 * holes stay holes. The file starts its write-back as it goes (ImageFile).
 */
export class FileSink implements RestoreSink {
  readonly fd = -1;
  done = 0;

  constructor(private readonly file: ImageFile) {}

  get name(): string {
    return this.file.target;
  }

  take(job: RestoreJob, buf: ArrayBuffer): Promise<void> {
    const out = Buffer.from(buf);
    for (let r = 0; r < job.runs.length; r += RUN_FIELDS)
      this.file.write(out.subarray(job.runs[r + 1]!, job.runs[r + 1]! + job.runs[r + 2]!), job.runs[r]!);
    this.done = jobEnd(job);
    return Promise.resolve();
  }

  async finish(): Promise<void> {
    this.file.finish();
  }

  async abort(): Promise<void> {
    this.file.abort();
  }
}

const ZEROS = Buffer.alloc(4 * 1024 * 1024);

/**
 * A stream (standard output) written in order, zero runs as zeros. Each write completes before its
 * buffer goes back for reuse; an error of the stream (EPIPE) fails the next write.
 */
export class StreamSink implements RestoreSink {
  readonly fd = -1;
  readonly name = "standard output";
  done = 0;
  private error: Error | undefined;
  private readonly onError = (err: Error) => (this.error ??= err);

  constructor(
    private readonly out: Writable,
    private readonly length: number,
  ) {
    out.on("error", this.onError);
  }

  async take(job: RestoreJob, buf: ArrayBuffer): Promise<void> {
    for (let r = 0; r < job.runs.length; r += RUN_FIELDS) {
      const at = job.runs[r]!;
      await this.zeros(at - this.done);
      await this.write(Buffer.from(buf, job.runs[r + 1]!, job.runs[r + 2]!));
      this.done = at + job.runs[r + 2]!;
    }
  }

  async finish(): Promise<void> {
    await this.zeros(this.length - this.done);
    this.done = this.length;
  }

  detach(): void {
    this.out.off("error", this.onError);
  }

  private async zeros(n: number): Promise<void> {
    for (let left = n; left > 0; left -= ZEROS.length)
      await this.write(ZEROS.subarray(0, Math.min(left, ZEROS.length)));
  }

  private write(b: Buffer): Promise<void> {
    if (this.error) return Promise.reject(fromSystemError(this.error, this.name));
    return new Promise((resolve, reject) =>
      this.out.write(b, (err) => (err ? reject(fromSystemError(err, this.name)) : resolve())),
    );
  }
}

/** A job on the calling thread, through the store's own read path (its frame cache, its checks). */
export function restoreHere(store: Store, job: RestoreJob, buf: ArrayBuffer, fd: number): void {
  const out = Buffer.from(buf);
  let o = 0;
  for (let k = 0; k < job.chunks; k++) {
    const id = Buffer.from(job.ids.buffer, job.ids.byteOffset + k * 32, 32);
    const skip = job.locs[k * LOC_FIELDS + 5]!;
    const take = job.locs[k * LOC_FIELDS + 6]!;
    o += store.getChunk(id).copy(out, o, skip, skip + take);
  }
  if (fd < 0) return;
  for (let r = 0; r < job.runs.length; r += RUN_FIELDS) {
    const [at, from, len] = [job.runs[r]!, job.runs[r + 1]!, job.runs[r + 2]!];
    try {
      for (let done = 0; done < len;) done += writeSync(fd, out, from + done, len - done, at + done);
    } catch (err) {
      throw fromSystemError(err, `output (at ${at})`);
    }
  }
}
