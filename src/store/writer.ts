import { createRequire } from "node:module";
import { corrupt } from "../util/errors.js";
import type { FrameCodec } from "./codec.js";
import type { StoreConfig } from "./config.js";
import { encodeLocation, type IndexDb } from "./index-db.js";
import { packPath } from "./layout.js";
import type { RepoLock } from "./lock.js";
import { frameHeader, MAX_FRAME_CHUNKS, PackWriter } from "./pack.js";
import { validateRecipe } from "./recipe.js";
import { Codec, type ChunkId, type Frame, type FrameChunk, type Recipe } from "./types.js";
import { sharedPool, type Compressed } from "./compress-pool.js";

const require = createRequire(import.meta.url);
const { blake3 } = require("@napi-rs/blake-hash") as typeof import("@napi-rs/blake-hash");

/** Raw bytes per frame: large enough for zstd to find cross-chunk redundancy (see README). */
export const FRAME_TARGET = 2 * 1024 * 1024;
const PACK_LIMIT = 1024 * 1024 * 1024;
/** Auto-commit after this many new stored bytes, so a crash loses little work. */
const COMMIT_EVERY = 256 * 1024 * 1024;
/**
 * Frames waiting to be compressed or written before the producer stops to help (see drain): deep
 * enough to absorb a burst of new data while the worker is busy, shallow because each holds 2 MiB
 * and fresh pages are slow to touch on a VM (2, 3, 4 and 6 measured: 4 was best, by a little).
 */
const MAX_QUEUED_FRAMES = 4;
/** Frames handed to the compression worker at once: one to work on, one to start next. */
const WORKER_FRAMES = 2;

interface QueuedFrame {
  chunks: FrameChunk[];
  /** Raw bytes, until the frame goes to the worker or is compressed here. */
  raw?: Buffer;
  length: number;
  job?: Promise<void>;
  done?: { codec: Codec; payload: Buffer; release(): void };
}

/** Chunks written since the last commit: their locations and what they add to the counters. */
interface Batch {
  entries: Map<string, Buffer>;
  delta: { chunks: number; uniqueBytes: number; storedBytes: number };
}

/** The parts of a store the writer works on (the Store gives itself). */
export interface WriterTarget {
  readonly dir: string;
  readonly config: StoreConfig;
  readonly index: IndexDb;
  readonly codec: FrameCodec;
}

export interface FrameResult {
  /** Chunks of the frame that were new here and are now stored. */
  stored: number;
  storedBytes: number;
  skipped: number;
}

function compressed(entry: QueuedFrame, r: Compressed): void {
  entry.done = { codec: r.compressed ? Codec.Zstd : Codec.None, payload: r.payload, release: r.release };
}

/**
 * The only way bytes get into a store. Crash order: frames are appended to a pack and fsynced
 * before the LMDB transaction that points at them commits, so a crash may leave unreferenced pack
 * bytes, never an index entry without data.
 */
export class StoreWriter {
  private pack: PackWriter | undefined;
  private pending = new Map<string, Buffer>();
  private frameBuf: Buffer;
  private frameChunks: FrameChunk[] = [];
  private inFrame = new Set<string>();
  /** Frames being compressed (by the worker, or here in drain), written to the pack as they finish. */
  private queue: QueuedFrame[] = [];
  private atWorker = 0;
  private queued = new Set<string>();
  private frameFill = 0;
  private delta = { chunks: 0, uniqueBytes: 0, storedBytes: 0 };
  private sinceCommit = 0;
  private warmed = false;
  /** Chunks whose frames are written and whose commit has begun (see commitSoon). */
  private committing: Array<Map<string, Buffer>> = [];
  /** The last commit begun by commitSoon: the next one waits for it, so commits land in order. */
  private lastCommit: Promise<void> = Promise.resolve();
  /** Frame bytes written by this writer so far (what the index will count as stored). */
  storedBytes = 0;

  constructor(
    readonly store: WriterTarget,
    private readonly lock: RepoLock,
    private nextPack: number,
  ) {
    this.frameBuf = this.frameMemory(FRAME_TARGET + store.config.chunker.max);
  }

  /**
   * Starts the compression worker at the first new chunk rather than at the first full frame: the
   * worker's start-up (~0.1 s of CPU) then overlaps the frame's filling. An add of known data never
   * starts it (it slowed such an add's first image by ~45 ms), nor does a site receiving frames,
   * which stores them as they came.
   */
  private warmCompression(): void {
    this.warmed = true;
    if (this.compressing()) sharedPool!.warm();
  }

  /** With the worker, frames are filled in its pool's memory and handed over without a copy. */
  private frameMemory(n: number): Buffer {
    return this.compressing() ? sharedPool!.frameMemory(n) : Buffer.allocUnsafe(n);
  }

  private compressing(): boolean {
    return sharedPool !== undefined && this.store.codec.codec === Codec.Zstd;
  }

  has(id: ChunkId): boolean {
    const key = id.toString("latin1");
    if (this.inFrame.has(key) || this.queued.has(key) || this.pending.has(key)) return true;
    for (const batch of this.committing) if (batch.has(key)) return true;
    return this.store.index.has(id);
  }

  /** Adds a chunk unless present; returns whether it was new. `id` must be BLAKE3(data). */
  addChunk(id: ChunkId, data: Uint8Array): boolean {
    if (this.has(id)) return false;
    if (!this.warmed) this.warmCompression();
    if (this.frameFill + data.length > this.frameBuf.length) this.flushFrame();
    if (data.length > this.frameBuf.length) this.frameBuf = this.frameMemory(data.length);
    this.frameBuf.set(data, this.frameFill);
    this.frameFill += data.length;
    this.frameChunks.push({ id: Buffer.from(id), length: data.length });
    this.inFrame.add(id.toString("latin1"));
    if (this.frameFill >= FRAME_TARGET || this.frameChunks.length >= MAX_FRAME_CHUNKS) this.flushFrame();
    return true;
  }

  /**
   * Adds a frame received from elsewhere after checking that every chunk hashes to its id (unless
   * the caller did, see FrameVerifier). Stored as it came when all its chunks are new, so nothing
   * is recompressed.
   */
  addFrame(frame: Frame, verified = false): FrameResult {
    let raw = 0;
    for (const c of frame.chunks) raw += c.length;
    if (verified && this.allNew(frame)) {
      this.flushFrame();
      this.writeFrame(frame.codec, frame.chunks, frame.payload);
      return { stored: frame.chunks.length, storedBytes: raw, skipped: 0 };
    }
    const bytes = this.store.codec.decodeTransient(frame.codec, frame.payload, raw);
    let o = 0;
    for (const c of frame.chunks) {
      if (!blake3(bytes.subarray(o, o + c.length)).equals(c.id))
        throw corrupt(`chunk ${c.id.toString("hex")}: bytes do not match its id`);
      o += c.length;
    }
    const result: FrameResult = { stored: 0, storedBytes: 0, skipped: 0 };
    if (this.allNew(frame)) {
      this.flushFrame();
      this.writeFrame(frame.codec, frame.chunks, frame.payload);
      result.stored = frame.chunks.length;
      result.storedBytes = raw;
      return result;
    }
    o = 0;
    frame.chunks.forEach((c) => {
      if (this.addChunk(c.id, bytes.subarray(o, o + c.length))) {
        result.stored++;
        result.storedBytes += c.length;
      } else result.skipped++;
      o += c.length;
    });
    return result;
  }

  /** Whether the frame has chunks, none twice, none already here: it can be stored as it came. */
  private allNew(frame: Frame): boolean {
    if (frame.chunks.length === 0) return false;
    const keys = new Set<string>();
    for (const c of frame.chunks) {
      const key = c.id.toString("latin1");
      if (keys.has(key) || this.has(c.id)) return false;
      keys.add(key);
    }
    return true;
  }

  /**
   * Waits until at most `max` frames are queued, writing finished ones. Rather than wait for the
   * worker, the caller compresses the newest frame the worker has not taken: when new data makes
   * zstd the bottleneck, both threads compress instead of one idling. The worker takes frames in
   * order, so the oldest queued one is the next it finishes.
   */
  async drain(max = MAX_QUEUED_FRAMES): Promise<void> {
    this.writeReady();
    while (this.queue.length > max) {
      const idle = this.newestNotTaken();
      if (idle) this.compressHere(idle);
      else await this.queue[0]!.job;
      this.writeReady();
    }
  }

  /**
   * Makes everything added so far durable, with an optional recipe in the same transaction. The
   * recipe is checked (name, digest) first; whether it may replace another is the caller's call.
   */
  async commit(recipe?: Recipe): Promise<void> {
    const { done } = await this.commitSoon(recipe);
    await done;
  }

  /**
   * Like commit(), but returns once the frames are written: the pack's fsync then runs on the
   * thread pool and the index transaction follows it, so that the caller can go on adding chunks
   * (the next image of an `add`) meanwhile. `done` settles when the commit has landed; commits
   * land in the order they were begun.
   */
  async commitSoon(recipe?: Recipe): Promise<{ done: Promise<void> }> {
    if (recipe) validateRecipe(recipe);
    this.flushFrame();
    await this.drain(0);
    const batch = this.takeBatch();
    this.committing.push(batch.entries);
    const pack = this.pack;
    const done = this.lastCommit
      .then(() => pack?.syncInBackground())
      .then(() => this.commitBatch(batch, recipe))
      .finally(() => this.committing.splice(this.committing.indexOf(batch.entries), 1));
    this.lastCommit = done.catch(() => undefined);
    return { done };
  }

  private commitWritten(): void {
    this.pack?.sync();
    this.commitBatch(this.takeBatch());
  }

  private takeBatch(): Batch {
    const batch = { entries: this.pending, delta: this.delta };
    this.pending = new Map();
    this.delta = { chunks: 0, uniqueBytes: 0, storedBytes: 0 };
    this.sinceCommit = 0;
    return batch;
  }

  private commitBatch(batch: Batch, recipe?: Recipe): void {
    this.store.index.env.transactionSync(() => this.writeBatch(batch, recipe));
  }

  /** Inside an index transaction: the batch's chunk locations, the counters, the recipe. */
  private writeBatch({ entries, delta }: Batch, recipe?: Recipe): void {
    const index = this.store.index;
    for (const [key, loc] of entries) index.chunks.putSync(Buffer.from(key, "latin1"), loc);
    const c = index.counters();
    index.meta.putSync("counters", {
      chunks: c.chunks + delta.chunks,
      uniqueBytes: c.uniqueBytes + delta.uniqueBytes,
      storedBytes: c.storedBytes + delta.storedBytes,
    });
    if (recipe) index.writeRecipe(recipe);
  }

  /**
   * Releases the lock; what was not committed is dropped (its pack bytes stay unreferenced). Call
   * it once every commit begun has settled.
   */
  close(): void {
    this.pack?.close();
    this.pack = undefined;
    this.lock.release();
  }

  private flushFrame(): void {
    if (this.frameChunks.length === 0) return;
    const length = this.frameFill;
    const chunks = this.frameChunks;
    this.frameChunks = [];
    this.frameFill = 0;
    if (!this.compressing()) {
      const { codec, payload } = this.store.codec.encode(this.frameBuf.subarray(0, length));
      this.writeFrame(codec, chunks, payload);
      this.inFrame.clear();
      return;
    }
    for (const key of this.inFrame) this.queued.add(key);
    this.inFrame.clear();
    this.queue.push({ chunks, raw: this.frameBuf, length });
    this.frameBuf = this.frameMemory(FRAME_TARGET + this.store.config.chunker.max);
    this.feedWorker();
  }

  /** Hands the oldest frames not yet taken to the worker, keeping WORKER_FRAMES there. */
  private feedWorker(): void {
    for (const entry of this.queue) {
      if (this.atWorker >= WORKER_FRAMES) return;
      const raw = entry.raw;
      if (raw === undefined) continue;
      entry.raw = undefined;
      this.atWorker++;
      entry.job = sharedPool!
        .compress(raw, entry.length, this.store.config.compression.level)
        .then((r) => compressed(entry, r));
      // drain() awaits the job and sees its failure; this only keeps the worker fed.
      entry.job.then(
        () => {
          this.atWorker--;
          this.feedWorker();
        },
        () => this.atWorker--,
      );
    }
  }

  private newestNotTaken(): QueuedFrame | undefined {
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i]!.raw) return this.queue[i];
    return undefined;
  }

  private compressHere(entry: QueuedFrame): void {
    const raw = entry.raw!;
    entry.raw = undefined;
    compressed(entry, sharedPool!.compressHere(raw, entry.length, this.store.config.compression.level));
  }

  /**
   * Writes the frames that are compressed, in the order they finish: frames compressed here
   * overtake the worker's, so that their memory is free again at once. The index points at each
   * frame wherever it lands, so pack order does not matter.
   */
  private writeReady(): void {
    if (!this.queue.some((e) => e.done)) return;
    const waiting: QueuedFrame[] = [];
    for (const entry of this.queue) {
      const done = entry.done;
      if (!done) {
        waiting.push(entry);
        continue;
      }
      this.writeFrame(done.codec, entry.chunks, done.payload);
      done.release();
      for (const c of entry.chunks) this.queued.delete(c.id.toString("latin1"));
    }
    this.queue = waiting;
  }

  private writeFrame(codec: Frame["codec"], chunks: FrameChunk[], payload: Buffer): void {
    if (!this.pack || this.pack.size >= PACK_LIMIT) {
      const full = this.pack;
      if (full) {
        full.sync();
        // A commit begun earlier may still be syncing it in the background.
        void this.lastCommit.then(() => full.close());
      }
      const id = this.nextPack++;
      this.pack = new PackWriter(id, packPath(this.store.dir, id));
    }
    const header = frameHeader({ codec, chunks, payload });
    const { offset, length } = this.pack.append(header, payload);
    let inner = 0;
    for (const c of chunks) {
      const key = c.id.toString("latin1");
      if (!this.pending.has(key)) {
        this.pending.set(
          key,
          encodeLocation({
            pack: this.pack.id,
            frameOffset: offset,
            frameLength: length,
            innerOffset: inner,
            rawLength: c.length,
          }),
        );
        this.delta.chunks++;
        this.delta.uniqueBytes += c.length;
      }
      inner += c.length;
    }
    this.delta.storedBytes += length;
    this.storedBytes += length;
    this.sinceCommit += length;
    if (this.sinceCommit >= COMMIT_EVERY) this.commitWritten();
  }
}
