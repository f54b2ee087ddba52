import type { Writable } from "node:stream";
import { Exit, NitroError, usage } from "../util/errors.js";
import { verifyRecipe } from "../store/recipe.js";
import type { Store } from "../store/store.js";
import type { Recipe } from "../store/types.js";
import { ImageFile } from "./image-file.js";
import { restoreJobs, type ByteRange, type RestoreJob } from "./restore-plan.js";
import { restoreThreads, restoreWorkers, failureError } from "./restore-workers.js";
import { FileSink, StreamSink, restoreHere, type RestoreSink } from "./restore-sinks.js";
import { BufferPool } from "../util/buffer-pool.js";

/** Bytes of image per job: large sequential writes, a few jobs in flight per worker. */
const JOB_BYTES = 4 * 1024 * 1024;

export interface ExportOptions {
  force?: boolean;
  /** Only these bytes of the image (default: all of it). */
  range?: ByteRange;
  onProgress?: (done: number, total: number) => void;
}

/** Checks a range against the image: within it, whole numbers. */
export function imageRange(recipe: Recipe, offset = 0, length?: number): ByteRange {
  const len = length ?? recipe.size - offset;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > recipe.size)
    throw usage(`--offset ${offset} is outside image '${recipe.name}' (${recipe.size} bytes)`);
  if (!Number.isSafeInteger(len) || len < 0 || offset + len > recipe.size)
    throw usage(
      `--length ${len} from offset ${offset} goes past the end of image '${recipe.name}' (${recipe.size} bytes)`,
    );
  return { offset, length: len };
}

function checkComplete(store: Store, recipe: Recipe): void {
  verifyRecipe(recipe);
  const missing = store.missingChunks(recipe);
  if (missing > 0)
    throw new NitroError(
      Exit.INCOMPLETE,
      `image '${recipe.name}' is missing ${missing} chunks in this repository (pull it from the sites that hold it)`,
    );
}

/**
 * Rebuilds an image (or a range of it) into a file: a sparse temporary beside the target, every
 * chunk checked against its id before it is written, zero runs left as holes, then fsync and
 * rename. The chunk list is checked against the digest before anything is written.
 */
export async function exportImage(
  store: Store,
  recipe: Recipe,
  target: string,
  opts: ExportOptions = {},
): Promise<void> {
  checkComplete(store, recipe);
  const range = opts.range ?? { offset: 0, length: recipe.size };
  const file = new ImageFile(target, range.length, opts.force ?? false);
  const sink = new FileSink(file);
  try {
    await restore(store, recipe, range, sink, opts.onProgress);
    await sink.finish();
  } catch (err) {
    await sink.abort();
    throw err;
  }
}

/**
 * Writes an image (or a range of it) to a stream in order, every chunk checked before it goes
 * out, zero runs as zeros. A failure rejects after the bytes before it were written: the caller
 * must report it (a short stream alone would look like a short image). The stream must be done
 * with each chunk once the write's callback has run (a file, pipe or socket is): its memory is
 * reused for the next bytes.
 */
export async function exportToStream(
  store: Store,
  recipe: Recipe,
  out: Writable,
  opts: Omit<ExportOptions, "force"> = {},
): Promise<void> {
  checkComplete(store, recipe);
  const range = opts.range ?? { offset: 0, length: recipe.size };
  const sink = new StreamSink(out, range.length);
  try {
    await restore(store, recipe, range, sink, opts.onProgress);
    await sink.finish();
  } finally {
    sink.detach();
  }
}

/**
 * Jobs in image order, a few in flight on the workers (read, decode, verify, and for a file
 * write) while the sink takes the finished ones in order; job buffers are recycled.
 */
async function restore(
  store: Store,
  recipe: Recipe,
  range: ByteRange,
  sink: RestoreSink,
  onProgress?: (done: number, total: number) => void,
): Promise<void> {
  const threads = restoreThreads();
  const workers = threads > 0 ? restoreWorkers(threads) : undefined;
  const window = threads + 2;
  const buffers = new BufferPool(JOB_BYTES, window + 1);
  const run = async (job: RestoreJob) => {
    let buf = buffers.memory(job.bytes);
    if (workers) {
      const r = await workers.run(store.dir, job, buf, sink.fd);
      buf = r.buf;
      // A pack that went away (gc) is read again through the store, which looks the chunk up anew.
      if (r.failure?.kind === "missing") restoreHere(store, job, buf, sink.fd);
      else if (r.failure) throw failureError(r.failure, sink.name);
    } else restoreHere(store, job, buf, sink.fd);
    return { job, buf };
  };
  const pending: Array<Promise<{ job: RestoreJob; buf: ArrayBuffer }>> = [];
  try {
    const jobs = restoreJobs(store.index, recipe, range, JOB_BYTES);
    let next = jobs.next();
    while (!next.done || pending.length > 0) {
      while (!next.done && pending.length < window) {
        const p = run(next.value);
        p.catch(() => undefined); // awaited in order below
        pending.push(p);
        next = jobs.next();
      }
      const { job, buf } = await pending.shift()!;
      await sink.take(job, buf);
      buffers.give(buf);
      // Without workers nothing else lets the event loop run (SIGINT must remove the temporary).
      if (!workers) await new Promise((resolve) => setImmediate(resolve));
      onProgress?.(sink.done, range.length);
    }
  } finally {
    // Nothing may still write to the output once the caller closes or removes it.
    await Promise.allSettled(pending);
    await workers?.close();
  }
  onProgress?.(range.length, range.length);
}
