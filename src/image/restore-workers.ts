import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { corrupt, fromSystemError } from "../util/errors.js";
import { WorkerCalls } from "../util/worker-calls.js";
import { FRAME_HEADER_BYTES, FRAME_MAGIC } from "../store/pack.js";
import { packPath } from "../store/layout.js";
import { Codec, ENTRY_BYTES, ID_BYTES } from "../store/types.js";
import { LOC_FIELDS, RUN_FIELDS, type RestoreJob } from "./restore-plan.js";

const require = createRequire(import.meta.url);

/** What a worker found wrong with a job; `missing` (a pack gone) is retried by the caller. */
export interface JobFailure {
  kind: "missing" | "corrupt" | "write";
  message: string;
  code?: string;
}

interface Reply {
  id: number;
  buf: ArrayBuffer;
  failure?: JobFailure;
}

// Each worker reads frames with pread, decodes them into reused buffers kept as a cache of 16
// (a derived image goes back and forth between its frames and its base's: 4 frames decoded
// bookworm-lamp's shared frames twice over, 16 only 1.27 times), checks each chunk's BLAKE3 against
// its id, copies the wanted bytes into the job's buffer and, given a file, writes the runs there
// itself. Nothing allocates per frame in steady state.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { openSync, readSync, writeSync, closeSync } = require("node:fs");
const { DCtx } = require(workerData.zstd);
const { blake3 } = require(workerData.blake3);
const dctx = new DCtx();
const CACHE = 16;
const fds = new Map();
let cache = [];
let readBuf = Buffer.alloc(0);
class Failure { constructor(kind, message, code) { this.kind = kind; this.message = message; this.code = code; } }
function packFd(path) {
  let fd = fds.get(path);
  if (fd === undefined) {
    try { fd = openSync(path, "r"); } catch (err) {
      if (err.code === "ENOENT") throw new Failure("missing", "pack " + path + " is missing", err.code);
      throw new Failure("corrupt", "pack " + path + " is unreadable: " + err.message, err.code);
    }
    fds.set(path, fd);
  }
  return fd;
}
function slot(raw) {
  const old = cache.length >= CACHE ? cache.pop() : undefined;
  const buf = old && old.buf.length >= raw ? old.buf : Buffer.allocUnsafe(Math.max(raw, ${4 * 1024 * 1024}));
  return buf;
}
function frame(path, offset, length) {
  const key = path + ":" + offset;
  const at = cache.findIndex((e) => e.key === key);
  if (at >= 0) {
    const e = cache[at];
    if (at > 0) { cache.splice(at, 1); cache.unshift(e); }
    return e.raw;
  }
  const where = path + " at " + offset;
  if (readBuf.length < length) readBuf = Buffer.allocUnsafe(Math.max(length, ${4 * 1024 * 1024}));
  const fd = packFd(path);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, readBuf, got, length - got, offset + got);
    if (n === 0) throw new Failure("corrupt", "pack " + where + ": frame is truncated");
    got += n;
  }
  if (length < ${FRAME_HEADER_BYTES} || readBuf.readUInt32LE(0) !== ${FRAME_MAGIC})
    throw new Failure("corrupt", "pack " + where + ": no frame header");
  const codec = readBuf[4];
  const headerLength = ${FRAME_HEADER_BYTES} + readBuf.readUInt16LE(6) * ${ENTRY_BYTES};
  const rawLength = readBuf.readUInt32LE(8);
  const payload = readBuf.subarray(headerLength, headerLength + readBuf.readUInt32LE(12));
  if (headerLength + payload.length !== length) throw new Failure("corrupt", "pack " + where + ": frame length does not match its header");
  const buf = slot(rawLength);
  if (codec === ${Codec.Zstd}) {
    let n = -1;
    try { n = dctx.decompress(buf.subarray(0, rawLength), payload); } catch {}
    if (n !== rawLength) throw new Failure("corrupt", "pack " + where + ": frame does not decompress to " + rawLength + " bytes");
  } else if (codec === ${Codec.None} && payload.length === rawLength) payload.copy(buf);
  else throw new Failure("corrupt", "pack " + where + ": bad frame codec or length");
  const raw = buf.subarray(0, rawLength);
  cache.unshift({ key, raw, buf });
  return raw;
}
function run(job) {
  const out = Buffer.from(job.buf);
  let o = 0;
  for (let k = 0; k < job.chunks; k++) {
    const l = job.locs.subarray(k * ${LOC_FIELDS}, (k + 1) * ${LOC_FIELDS});
    const path = job.packs.replace("#", String(l[0]).padStart(8, "0"));
    const raw = frame(path, l[1], l[2]);
    const inner = l[3], len = l[4], skip = l[5], take = l[6];
    const id = Buffer.from(job.ids.buffer, job.ids.byteOffset + k * ${ID_BYTES}, ${ID_BYTES});
    if (inner + len > raw.length || !blake3(raw.subarray(inner, inner + len)).equals(id))
      throw new Failure("corrupt", "chunk " + id.toString("hex") + " in pack " + path + " at " + l[1] + " is corrupt");
    raw.copy(out, o, inner + skip, inner + skip + take);
    o += take;
  }
  if (job.fd < 0) return;
  for (let r = 0; r < job.runs.length; r += ${RUN_FIELDS}) {
    const at = job.runs[r], from = job.runs[r + 1], len = job.runs[r + 2];
    let done = 0;
    try {
      while (done < len) done += writeSync(job.fd, out, from + done, len - done, at + done);
    } catch (err) {
      throw new Failure("write", err.message, err.code);
    }
  }
}
parentPort.on("message", (job) => {
  if (job.close) {
    for (const fd of fds.values()) closeSync(fd);
    fds.clear();
    cache = [];
    return parentPort.postMessage({ id: job.id });
  }
  let failure;
  try { run(job); } catch (err) {
    failure = err instanceof Failure ? { ...err } : { kind: "corrupt", message: String(err && err.message) };
  }
  parentPort.postMessage({ id: job.id, buf: job.buf, failure }, [job.buf]);
});
`;

/**
 * Workers besides the main thread, which writes: one per other core, up to 3 (on 2 vCPUs one
 * worker decoding and one thread writing are about even, and a second worker's own frame cache
 * decodes shared frames twice). NITRO_EXPORT_THREADS overrides it; 0 restores on the main thread.
 */
export function restoreThreads(): number {
  const env = process.env.NITRO_EXPORT_THREADS;
  if (env !== undefined && /^\d+$/.test(env)) return Math.min(Number(env), 8);
  return Math.max(1, Math.min(availableParallelism() - 1, 3));
}

/**
 * Worker threads that rebuild jobs of one repository: decode, verify and (given a file
 * descriptor) write, each on its own core, while the main thread plans and hands out buffers.
 */
export class RestoreWorkers {
  private readonly workers: Array<{ calls: WorkerCalls<Reply>; busy: number }>;

  constructor(count: number) {
    this.workers = Array.from({ length: count }, () => ({
      calls: new WorkerCalls<Reply>(WORKER_SOURCE, () => ({
        zstd: require.resolve("zstd-napi/binding"),
        blake3: require.resolve("@napi-rs/blake-hash"),
      })),
      busy: 0,
    }));
  }

  get count(): number {
    return this.workers.length;
  }

  /**
   * Runs a job into `buf` (moved to the worker and back: use the returned one). With `fd` >= 0
   * the worker also writes the runs there. Resolves with the failure, if any, rather than throw,
   * so that the caller can retry a missing pack.
   */
  async run(
    repoDir: string,
    job: RestoreJob,
    buf: ArrayBuffer,
    fd: number,
  ): Promise<{ buf: ArrayBuffer; failure?: JobFailure }> {
    const w = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    w.busy++;
    try {
      const { locs, ids, runs, chunks } = job;
      const packs = packPath(repoDir, 0).replace(/0{8}\.pack$/, "#.pack");
      const r = await w.calls.call({ packs, locs, ids, runs, chunks, fd, buf }, [buf]);
      return { buf: r.buf, failure: r.failure };
    } finally {
      w.busy--;
    }
  }

  /** Closes the workers' pack files (the workers stay, idle, for the next export). */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.calls.call({ close: true }, [])));
  }
}

let shared: RestoreWorkers | undefined;

/** The process's workers (started on first use, never keeping the process alive). */
export function restoreWorkers(count: number): RestoreWorkers {
  if (shared?.count !== count) shared = new RestoreWorkers(count);
  return shared;
}

/** The NitroError a worker's failure stands for. */
export function failureError(f: JobFailure, target: string): unknown {
  if (f.kind === "write")
    return fromSystemError(Object.assign(new Error(f.message), { code: f.code }), target);
  return corrupt(f.message);
}
