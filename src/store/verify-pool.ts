import { createRequire } from "node:module";
import { BufferPool } from "../util/buffer-pool.js";
import { corrupt } from "../util/errors.js";
import { WorkerCalls } from "../util/worker-calls.js";
import { Codec, ID_BYTES, type Frame } from "./types.js";

const require = createRequire(import.meta.url);

// Replies with the index of the first chunk whose bytes do not hash to its id, -2 for a payload
// that does not decode to the chunks' total length, -1 when all is well; the memory comes back.
// A sound frame's spans are then written to the job's file (-3 and the error if that fails).
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const { DCtx } = require(workerData.zstd);
const { blake3 } = require(workerData.blake3);
const dctx = new DCtx();
let scratch = Buffer.alloc(0);
// The last checked frame's decoded bytes (the payload itself when stored plain).
let bytes = scratch;
function check(job) {
  const payload = Buffer.from(job.buf, 0, job.length);
  bytes = payload;
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
function write(job) {
  const s = job.spans;
  for (let j = 0; j < s.length; j += 3) {
    for (let done = 0; done < s[j + 1]; )
      done += writeSync(job.fd, bytes, s[j] + done, s[j + 1] - done, s[j + 2] + done);
  }
}
parentPort.on("message", (job) => {
  let bad = check(job);
  let error;
  if (bad === -1 && job.spans) {
    try {
      write(job);
    } catch (err) {
      bad = -3;
      error = { message: err.message, code: err.code };
    }
  }
  parentPort.postMessage({ id: job.id, bad, error, buf: job.buf }, [job.buf]);
});
`;

/**
 * Checks received frames (decompress, then BLAKE3 of every chunk against its id) on a worker
 * thread, so that the thread reading them off the wire and writing them to packs never stops for
 * the few milliseconds a frame takes: behind sshd, every stop of the reader stalls the sender.
 */
export class FrameVerifier {
  // Enough for every frame being checked at once in a pull from many sources (VERIFY_AHEAD + 1
  // per source): keeping 8, copying the frames in took 70 ms of a 6-source pull's main thread
  // (fresh memory, page faults), 22 ms with these.
  private readonly buffers = new BufferPool(4 * 1024 * 1024, 48);
  private readonly calls = new WorkerCalls<{
    id: number;
    bad: number;
    error?: { message: string; code?: string };
    buf: ArrayBuffer;
  }>(WORKER_SOURCE, () => ({
    zstd: require.resolve("zstd-napi/binding"),
    blake3: require.resolve("@napi-rs/blake-hash"),
  }));

  warm(): void {
    this.calls.warm();
  }

  /**
   * Resolves when every chunk of the frame hashes to its id; rejects with CORRUPT otherwise. With
   * `writes`, the worker then also writes those spans of the decoded bytes to a file (a failure to
   * write rejects with the system error, not CORRUPT): the bytes are decoded once, off this thread.
   */
  async verify(frame: Frame, writes?: FrameWrites): Promise<void> {
    const length = frame.payload.length;
    const buf = this.buffers.memory(length);
    new Uint8Array(buf, 0, length).set(frame.payload);
    const lengths = new Uint32Array(frame.chunks.length);
    const ids = new Uint8Array(frame.chunks.length * ID_BYTES);
    let raw = 0;
    frame.chunks.forEach((c, k) => {
      lengths[k] = c.length;
      ids.set(c.id, k * ID_BYTES);
      raw += c.length;
    });
    const job = { codec: frame.codec, buf, length, raw, lengths, ids, fd: writes?.fd, spans: writes?.spans };
    const m = await this.calls.call(job, [buf]);
    this.buffers.give(m.buf);
    if (m.bad === -3) throw new FrameWriteError(m.error!.message, m.error!.code);
    if (m.bad === -2) throw corrupt("frame does not decompress to the length of its chunks");
    if (m.bad >= 0)
      throw corrupt(`chunk ${frame.chunks[m.bad]!.id.toString("hex")}: bytes do not match its id`);
  }
}

/** Where a checked frame's decoded bytes go: triples of (offset in the frame, length, file offset). */
export interface FrameWrites {
  fd: number;
  spans: Float64Array;
}

/** FrameWrites to make once the frame is checked, then commit() (written) or cancel() (not). */
export interface FramePlacement extends FrameWrites {
  commit(): void;
  cancel(): void;
}

/** Writing a checked frame's bytes failed here (a local file's fault, not the sender's). */
export class FrameWriteError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** NITRO_VERIFY_THREADS=0 checks frames on the main thread instead. */
export const sharedVerifier: FrameVerifier | undefined =
  process.env.NITRO_VERIFY_THREADS === "0" ? undefined : new FrameVerifier();
