import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

const require = createRequire(import.meta.url);

export interface Compressed {
  compressed: boolean;
  payload: Buffer;
}

// Inline so that it runs the same from dist/ and from the TypeScript sources under test.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { Compressor } = require(workerData.zstd);
const c = new Compressor();
let level = -1;
parentPort.on("message", (job) => {
  if (job.level !== level) { c.setParameters({ compressionLevel: job.level, contentSizeFlag: true }); level = job.level; }
  const out = c.compress(new Uint8Array(job.buf));
  if (out.length < job.buf.byteLength) parentPort.postMessage({ id: job.id, out });
  else parentPort.postMessage({ id: job.id, raw: new Uint8Array(job.buf) }, [job.buf]);
});
`;

/**
 * Compresses frames on a worker thread, in order, so that chunking and hashing on the main
 * thread overlap with zstd. One worker: the second core is not always there, and one zstd
 * stream already keeps a core busy.
 */
export class CompressPool {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (r: Compressed) => void; reject: (e: Error) => void }
  >();

  private start(): Worker {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { zstd: require.resolve("zstd-napi") } });
    w.unref();
    w.on("message", (m: { id: number; out?: Uint8Array; raw?: Uint8Array }) => {
      const p = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      const b = (m.out ?? m.raw)!;
      p?.resolve({
        compressed: m.out !== undefined,
        payload: Buffer.from(b.buffer, b.byteOffset, b.byteLength),
      });
    });
    w.on("error", (err) => {
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
      this.worker = undefined;
    });
    return w;
  }

  /**
   * Compresses a copy of `raw` (the caller may reuse its buffer at once); gives the raw bytes
   * back when compression does not shrink them.
   */
  compress(raw: Uint8Array, level: number): Promise<Compressed> {
    this.worker ??= this.start();
    const buf = new ArrayBuffer(raw.length);
    new Uint8Array(buf).set(raw);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker!.postMessage({ id, level, buf }, [buf]);
    });
  }
}

/** NITRO_COMPRESS_THREADS=0 compresses on the main thread (for a machine with one core). */
export const sharedPool: CompressPool | undefined =
  process.env.NITRO_COMPRESS_THREADS === "0" ? undefined : new CompressPool();
