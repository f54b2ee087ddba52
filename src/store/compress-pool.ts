import { createRequire } from "node:module";
import { BufferPool } from "../util/buffer-pool.js";
import { WorkerCalls } from "../util/worker-calls.js";

const require = createRequire(import.meta.url);
const { CCtx, compressBound } = require("zstd-napi/binding") as typeof import("zstd-napi/binding.js");

export interface Compressed {
  compressed: boolean;
  payload: Buffer;
  /** Hands the payload's memory back for the next frame; call once it has been written out. */
  release(): void;
}

// The compressed bytes go back in the buffer that brought the raw ones (they are shorter), so that in
// steady state no frame allocates memory: fresh pages cost a page fault each, which adds up to a
// third of the time of an add on a virtual machine.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { CCtx, compressBound } = require(workerData.binding);
const cctx = new CCtx();
let dest = Buffer.alloc(0);
parentPort.on("message", (job) => {
  const src = Buffer.from(job.buf, 0, job.length);
  // Sized for the largest frame at once: growing it frame by frame touched fresh pages each time.
  if (dest.length < compressBound(job.length)) dest = Buffer.allocUnsafe(compressBound(Math.max(job.length, job.buf.byteLength)));
  const n = cctx.compress(dest, src, job.level);
  const compressed = n < job.length;
  if (compressed) dest.copy(src, 0, 0, n);
  parentPort.postMessage({ id: job.id, buf: job.buf, length: compressed ? n : job.length, compressed }, [job.buf]);
});
`;

/**
 * Compresses frames on a worker thread, in order, so that chunking and hashing on the main
 * thread overlap with zstd; the caller may also compress a frame itself (compressHere) rather than
 * wait for the worker. A second worker made a first ingest no faster here: the main thread and one
 * zstd stream already fill two vCPUs.
 */
export class CompressPool {
  private readonly buffers = new BufferPool(4 * 1024 * 1024, 8);
  private readonly calls = new WorkerCalls<{
    id: number;
    buf: ArrayBuffer;
    length: number;
    compressed: boolean;
  }>(WORKER_SOURCE, () => ({ binding: require.resolve("zstd-napi/binding") }));
  private cctx: InstanceType<typeof CCtx> | undefined;
  private dest = Buffer.alloc(0);

  warm(): void {
    this.calls.warm();
  }

  /** Memory to fill with a frame's raw bytes, then hand to compress() or compressHere(). */
  frameMemory(n: number): Buffer {
    const ab = this.buffers.memory(n);
    return Buffer.from(ab, 0, ab.byteLength);
  }

  /**
   * Compresses the first `length` bytes of `frame`, which must come from frameMemory(): its memory
   * moves to the worker without a copy, and the caller must not touch it afterwards.
   */
  async compress(frame: Buffer, length: number, level: number): Promise<Compressed> {
    const buf = frame.buffer as ArrayBuffer;
    const m = await this.calls.call({ level, buf, length }, [buf]);
    return this.result(m.buf, m.length, m.compressed);
  }

  /** Like compress(), on the calling thread: the same bytes come out. */
  compressHere(frame: Buffer, length: number, level: number): Compressed {
    this.cctx ??= new CCtx();
    if (this.dest.length < compressBound(length)) this.dest = Buffer.allocUnsafe(compressBound(frame.length));
    const n = this.cctx.compress(this.dest, frame.subarray(0, length), level);
    const compressed = n < length;
    if (compressed) this.dest.copy(frame, 0, 0, n);
    return this.result(frame.buffer as ArrayBuffer, compressed ? n : length, compressed);
  }

  private result(buf: ArrayBuffer, length: number, compressed: boolean): Compressed {
    return { compressed, payload: Buffer.from(buf, 0, length), release: () => this.buffers.give(buf) };
  }
}

/** NITRO_COMPRESS_THREADS=0 compresses on the main thread (for a machine with one core). */
export const sharedPool: CompressPool | undefined =
  process.env.NITRO_COMPRESS_THREADS === "0" ? undefined : new CompressPool();
