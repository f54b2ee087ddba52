import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

const require = createRequire(import.meta.url);

export interface Compressed {
  compressed: boolean;
  payload: Buffer;
  /** Hands the payload's memory back for the next frame; call once it has been written out. */
  release(): void;
}

// Inline so that it runs the same from dist/ and from the TypeScript sources under test. The
// compressed bytes go back in the buffer that brought the raw ones (they are shorter), so that in
// steady state no frame allocates memory: fresh pages cost a page fault each, which adds up to a
// third of the time of an add on a virtual machine.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { CCtx, compressBound } = require(workerData.binding);
const cctx = new CCtx();
let dest = Buffer.alloc(0);
parentPort.on("message", (job) => {
  const src = Buffer.from(job.buf, 0, job.length);
  if (dest.length < compressBound(job.length)) dest = Buffer.allocUnsafe(compressBound(job.length));
  const n = cctx.compress(dest, src, job.level);
  const compressed = n < job.length;
  if (compressed) dest.copy(src, 0, 0, n);
  parentPort.postMessage({ id: job.id, buf: job.buf, length: compressed ? n : job.length, compressed }, [job.buf]);
});
`;

const KEEP_BUFFERS = 8;

/**
 * Compresses frames on a worker thread, in order, so that chunking and hashing on the main
 * thread overlap with zstd. One worker: the second core is not always there, and one zstd
 * stream already keeps a core busy.
 */
export class CompressPool {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly free: ArrayBuffer[] = [];
  private readonly waiting = new Map<
    number,
    { resolve: (r: Compressed) => void; reject: (e: Error) => void }
  >();

  private start(): Worker {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { binding: require.resolve("zstd-napi/binding") },
    });
    w.unref();
    w.on("message", (m: { id: number; buf: ArrayBuffer; length: number; compressed: boolean }) => {
      const p = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      p?.resolve({
        compressed: m.compressed,
        payload: Buffer.from(m.buf, 0, m.length),
        release: () => {
          if (this.free.length < KEEP_BUFFERS) this.free.push(m.buf);
        },
      });
    });
    w.on("error", (err) => {
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
      this.worker = undefined;
    });
    return w;
  }

  /** Compresses a copy of `raw` (the caller may reuse its buffer at once). */
  compress(raw: Uint8Array, level: number): Promise<Compressed> {
    this.worker ??= this.start();
    let buf = this.free.pop();
    if (!buf || buf.byteLength < raw.length) buf = new ArrayBuffer(raw.length);
    new Uint8Array(buf, 0, raw.length).set(raw);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker!.postMessage({ id, level, buf, length: raw.length }, [buf]);
    });
  }
}

/** NITRO_COMPRESS_THREADS=0 compresses on the main thread (for a machine with one core). */
export const sharedPool: CompressPool | undefined =
  process.env.NITRO_COMPRESS_THREADS === "0" ? undefined : new CompressPool();
