import { notFound } from "../util/errors.js";
import type { IndexDb } from "../store/index-db.js";
import { entryCount, entryId, entryLength } from "../store/recipe.js";
import { ID_BYTES, ZERO_ID, type Recipe } from "../store/types.js";

/** Numbers per chunk in RestoreJob.locs. */
export const LOC_FIELDS = 7;
/** Numbers per run in RestoreJob.runs. */
export const RUN_FIELDS = 3;

/**
 * A piece of an image to rebuild: chunks read in this order fill a buffer back to back, and the
 * buffer goes out as runs of consecutive bytes. Zero runs of the image are gaps between runs.
 */
export interface RestoreJob {
  /** Per chunk: pack, frame offset, frame length, offset in the raw frame, raw length, skip, take. */
  locs: Float64Array;
  /** Per chunk: its id (the BLAKE3 its whole bytes must hash to). */
  ids: Uint8Array;
  /** Per run: offset in the output, offset in the buffer, length. */
  runs: Float64Array;
  chunks: number;
  /** Bytes the job puts in its buffer (the sum of the takes). */
  bytes: number;
}

/** The part of an image to write: [offset, offset + length). */
export interface ByteRange {
  offset: number;
  length: number;
}

class JobBuilder {
  private locs: number[] = [];
  private ids: Buffer[] = [];
  private runs: number[] = [];
  bytes = 0;
  private runEnd = -1;
  lastFrame = "";

  get empty(): boolean {
    return this.ids.length === 0;
  }

  add(id: Buffer, loc: number[], out: number, take: number): void {
    this.locs.push(...loc);
    this.ids.push(id);
    const last = this.runs.length - 1;
    if (out === this.runEnd) this.runs[last] = this.runs[last]! + take;
    else this.runs.push(out, this.bytes, take);
    this.bytes += take;
    this.runEnd = out + take;
  }

  build(): RestoreJob {
    const ids = new Uint8Array(this.ids.length * ID_BYTES);
    this.ids.forEach((id, k) => ids.set(id, k * ID_BYTES));
    return {
      locs: Float64Array.from(this.locs),
      ids,
      runs: Float64Array.from(this.runs),
      chunks: this.ids.length,
      bytes: this.bytes,
    };
  }
}

/**
 * Cuts the data of `range` into jobs of about `target` bytes, in image order. A job ends at a
 * frame boundary when it can, so that two workers seldom decode the same frame. Output offsets
 * are relative to the range's start.
 */
export function* restoreJobs(
  index: IndexDb,
  recipe: Recipe,
  range: ByteRange,
  target: number,
): Generator<RestoreJob> {
  const from = range.offset;
  const to = range.offset + range.length;
  let job = new JobBuilder();
  let off = 0;
  for (let i = 0, n = entryCount(recipe); i < n && off < to; i++) {
    const len = entryLength(recipe, i);
    const start = off;
    off += len;
    if (off <= from) continue;
    const id = entryId(recipe, i);
    if (id.equals(ZERO_ID)) continue;
    const loc = index.location(id);
    if (!loc) throw notFound(`chunk ${id.toString("hex")} is not in this store`);
    const skip = Math.max(0, from - start);
    const take = Math.min(len, to - start) - skip;
    const frame = `${loc.pack}:${loc.frameOffset}`;
    const full = job.bytes + take > target;
    const atBoundary = job.bytes >= target / 2 && frame !== job.lastFrame;
    if (!job.empty && (full || atBoundary)) {
      yield job.build();
      job = new JobBuilder();
    }
    job.add(
      id,
      [loc.pack, loc.frameOffset, loc.frameLength, loc.innerOffset, loc.rawLength, skip, take],
      start + skip - from,
      take,
    );
    job.lastFrame = frame;
  }
  if (!job.empty) yield job.build();
}
