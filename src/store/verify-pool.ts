import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { corrupt } from "../util/errors.js";
import { Codec, ID_BYTES, type Frame } from "./types.js";

const require = createRequire(import.meta.url);

// Inline so that it runs the same from dist/ and from the TypeScript sources under test. Replies
// with the index of the first chunk whose bytes do not hash to its id, -2 for a payload that does
// not decode to the chunks' total length, -1 when all is well; the payload's memory comes back.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { DCtx } = require(workerData.zstd);
const { blake3 } = require(workerData.blake3);
const dctx = new DCtx();
let scratch = Buffer.alloc(0);
function check(job) {
  const payload = Buffer.from(job.buf, 0, job.length);
  let bytes = payload;
  if (job.codec === ${Codec.Zstd}) {
    if (scratch.length < job.raw) scratch = Buffer.allocUnsafe(Math.max(job.raw, 4 * 1024 * 1024));
    try {
      if (dctx.decompress(scratch.subarray(0, job.raw), payload) !== job.raw) return -2;
    } catch {
      return -2;
    }
    bytes = scratch;
  } else if (job.codec !== ${Codec.None} || job.length !== job.raw) return -2;
  let o = 0;
  for (let i = 0; i < job.lengths.length; i++) {
    const id = Buffer.from(job.ids.buffer, job.ids.byteOffset + i * ${ID_BYTES}, ${ID_BYTES});
    if (!blake3(bytes.subarray(o, o + job.lengths[i])).equals(id)) return i;
    o += job.lengths[i];
  }
  return -1;
}
parentPort.on("message", (job) => {
  const bad = check(job);
  parentPort.postMessage({ id: job.id, bad, buf: job.buf }, [job.buf]);
});
`;

const KEEP_BUFFERS = 8;

/**
 * Checks received frames (decompress, then BLAKE3 of every chunk against its id) on a worker
 * thread, so that the thread reading them off the wire and writing them to packs never stops for
 * the few milliseconds a frame takes: behind sshd, every stop of the reader stalls the sender.
 */
export class FrameVerifier {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly free: ArrayBuffer[] = [];
  private readonly waiting = new Map<
    number,
    { frame: Frame; resolve: () => void; reject: (e: Error) => void }
  >();

  private start(): Worker {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        zstd: require.resolve("zstd-napi/binding"),
        blake3: require.resolve("@napi-rs/blake-hash"),
      },
    });
    w.unref();
    w.on("message", (m: { id: number; bad: number; buf: ArrayBuffer }) => {
      const p = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (this.free.length < KEEP_BUFFERS) this.free.push(m.buf);
      if (!p) return;
      if (m.bad === -1) p.resolve();
      else if (m.bad === -2) p.reject(corrupt("frame does not decompress to the length of its chunks"));
      else p.reject(corrupt(`chunk ${p.frame.chunks[m.bad]!.id.toString("hex")}: bytes do not match its id`));
    });
    w.on("error", (err) => {
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
      this.worker = undefined;
    });
    return w;
  }

  /** Resolves when every chunk of the frame hashes to its id; rejects with CORRUPT otherwise. */
  verify(frame: Frame): Promise<void> {
    this.worker ??= this.start();
    const length = frame.payload.length;
    const i = this.free.findIndex((b) => b.byteLength >= length);
    const buf = i >= 0 ? this.free.splice(i, 1)[0]! : new ArrayBuffer(Math.max(length, 4 * 1024 * 1024));
    new Uint8Array(buf, 0, length).set(frame.payload);
    const lengths = new Uint32Array(frame.chunks.length);
    const ids = new Uint8Array(frame.chunks.length * ID_BYTES);
    let raw = 0;
    frame.chunks.forEach((c, k) => {
      lengths[k] = c.length;
      ids.set(c.id, k * ID_BYTES);
      raw += c.length;
    });
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { frame, resolve, reject });
      this.worker!.postMessage({ id, codec: frame.codec, buf, length, raw, lengths, ids }, [buf]);
    });
  }
}

/** NITRO_VERIFY_THREADS=0 checks frames on the main thread instead. */
export const sharedVerifier: FrameVerifier | undefined =
  process.env.NITRO_VERIFY_THREADS === "0" ? undefined : new FrameVerifier();
