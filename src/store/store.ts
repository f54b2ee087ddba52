import { createRequire } from "node:module";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { BufferPool } from "../util/buffer-pool.js";
import { corrupt, exists, notFound } from "../util/errors.js";
import { makeDirs } from "../util/make-dirs.js";
import { FrameCodec } from "./codec.js";
import {
  readConfig,
  writeFileAtomic,
  configPath,
  REPO_FORMAT,
  REPO_VERSION,
  type StoreConfig,
} from "./config.js";
import { IndexDb, type ChunkLocation, type Counters } from "./index-db.js";
import { checkIndexFiles } from "./lmdb-check.js";
import { RepoLock } from "./lock.js";
import { checkStore, type CheckReport } from "./check.js";
import { nextPackId, packDir, packIds, packPath } from "./layout.js";
import { FRAME_HEADER_BYTES, PackGoneError, PackReader, parseFrameHeader } from "./pack.js";
import { entryCount, entryId, validateImageName, validateRecipe } from "./recipe.js";
import {
  Codec,
  ZERO_ID,
  type ChunkId,
  type Frame,
  type FrameChunk,
  type Recipe,
  type RecipeSummary,
  type FrameShares,
  frameShare,
} from "./types.js";
import { StoreWriter } from "./writer.js";

const require = createRequire(import.meta.url);
const { blake3 } = require("@napi-rs/blake-hash") as typeof import("@napi-rs/blake-hash");

export interface StoreStats extends Counters {
  images: number;
  /** Sum of the sizes of all images. */
  logicalBytes: number;
  /** Bytes of pack files on disk (stored bytes plus what interrupted writes left unreferenced). */
  packBytes: number;
}

const FRAME_CACHE = 8;
const REFRAME_TARGET = 2 * 1024 * 1024;

/**
 * The store engine: chunks in frames in append-only packs, an LMDB index, recipes. The same class
 * serves the local repository and, behind `nitro serve`, a remote site. Readers never lock (LMDB
 * snapshots; a pack is never changed, only deleted by gc once the index points elsewhere, and a
 * reader that finds its pack gone looks the chunk up again); writers go through one StoreWriter
 * under the repo lock, and gc takes the same lock.
 */
export class Store {
  private readonly packs: PackReader;
  /** Frames read for sending: consumers give the buffers back (Frame.release). */
  private readonly readPool = new BufferPool();
  private readonly frameCache = new Map<string, Buffer>();
  readonly codec: FrameCodec;

  private constructor(
    readonly dir: string,
    readonly config: StoreConfig,
    readonly index: IndexDb,
  ) {
    this.packs = new PackReader((id) => packPath(dir, id));
    this.codec = new FrameCodec(
      config.compression.codec === "zstd" ? Codec.Zstd : Codec.None,
      config.compression.level,
    );
  }

  static init(dir: string, cfg: Omit<StoreConfig, "format" | "version" | "created">): Store {
    if (existsSync(configPath(dir))) throw exists(`a nitro repository already exists at ${dir}`);
    makeDirs(packDir(dir));
    const config: StoreConfig = {
      format: REPO_FORMAT,
      version: REPO_VERSION,
      ...cfg,
      created: new Date().toISOString(),
    };
    const index = new IndexDb(join(dir, "index"));
    // The config file is written last: a repository half-created by a crash is not taken for one.
    writeFileAtomic(configPath(dir), JSON.stringify(config, null, 2) + "\n");
    return new Store(dir, config, index);
  }

  static open(dir: string): Store {
    const config = readConfig(dir);
    return new Store(
      dir,
      config,
      new IndexDb(join(dir, "index"), checkIndexFiles(join(dir, "index")).readOnly),
    );
  }

  /** Takes the repository lock and returns the one writer. */
  async writer(lockWait = 10): Promise<StoreWriter> {
    const lock = await RepoLock.acquire(join(this.dir, "lock"), lockWait);
    return new StoreWriter(this, lock, nextPackId(this.dir));
  }

  has(ids: ChunkId[]): boolean[] {
    return ids.map((id) => this.index.has(id));
  }

  /**
   * For each id, the bytes sending it takes (frameShare), 0 when absent, and its frame, with the
   * frames' stored and raw bytes. One frame-header read per distinct frame.
   */
  storedSizes(ids: ChunkId[]): FrameShares {
    const sizes = new Uint32Array(ids.length);
    const frames = new Uint32Array(ids.length);
    const stored: number[] = [];
    const raw: number[] = [];
    // Per frame met: its number in this answer.
    const seen = new Map<string, number>();
    const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    ids.forEach((id, i) => {
      const loc = this.index.location(id);
      if (!loc) return;
      const key = `${loc.pack}:${loc.frameOffset}`;
      let n = seen.get(key);
      if (n === undefined) {
        const h = this.packs.read(loc.pack, loc.frameOffset, FRAME_HEADER_BYTES, head);
        seen.set(key, (n = seen.size));
        raw.push(h.readUInt32LE(8));
        stored.push(h.readUInt32LE(12));
      }
      sizes[i] = frameShare(loc.rawLength, stored[n]!, raw[n]!);
      frames[i] = n;
    });
    return { sizes, frames, frameStored: Uint32Array.from(stored), frameRaw: Uint32Array.from(raw) };
  }

  /** A chunk's bytes, checked against its id. */
  getChunk(id: ChunkId): Buffer {
    let loc = this.index.location(id);
    if (!loc) throw notFound(`chunk ${id.toString("hex")} is not in this store`);
    let raw: Buffer;
    try {
      raw = this.frameRaw(loc);
    } catch (err) {
      if (!(err instanceof PackGoneError)) throw err;
      loc = this.freshLocation(id);
      raw = this.frameRaw(loc);
    }
    const chunk = raw.subarray(loc.innerOffset, loc.innerOffset + loc.rawLength);
    if (!blake3(chunk).equals(id))
      throw corrupt(`chunk ${id.toString("hex")} in pack ${loc.pack} at ${loc.frameOffset} is corrupt`);
    return chunk;
  }

  /**
   * Frames holding exactly the given chunks, for sending: a stored frame whose chunks are all
   * wanted goes as it is on disk (no recompression); the rest are regrouped and recompressed.
   */
  *readFrames(ids: ChunkId[]): Generator<Frame> {
    const groups = new Map<
      string,
      { loc: ChunkLocation; wanted: Array<{ id: ChunkId; loc: ChunkLocation }> }
    >();
    const seen = new Set<string>();
    for (const id of ids) {
      const key = id.toString("latin1");
      if (seen.has(key)) continue;
      seen.add(key);
      const loc = this.index.location(id);
      if (!loc) throw notFound(`chunk ${id.toString("hex")} is not in this store`);
      const fk = `${loc.pack}:${loc.frameOffset}`;
      const g = groups.get(fk);
      if (g) g.wanted.push({ id, loc });
      else groups.set(fk, { loc, wanted: [{ id, loc }] });
    }
    const ordered = [...groups.values()].sort(
      (a, b) => a.loc.pack - b.loc.pack || a.loc.frameOffset - b.loc.frameOffset,
    );
    let partial: { chunks: FrameChunk[]; parts: Buffer[]; raw: number } = { chunks: [], parts: [], raw: 0 };
    const flushPartial = (): Frame => {
      const { codec, payload } = this.codec.encode(Buffer.concat(partial.parts, partial.raw));
      const frame = { codec, chunks: partial.chunks, payload };
      partial = { chunks: [], parts: [], raw: 0 };
      return frame;
    };
    for (const { loc, wanted } of ordered) {
      const { buf, release } = this.readPool.take(loc.frameLength);
      let bytes: Buffer | undefined;
      try {
        bytes = this.packs.read(loc.pack, loc.frameOffset, loc.frameLength, buf);
      } catch (err) {
        if (!(err instanceof PackGoneError)) throw err;
      }
      if (bytes) {
        const h = parseFrameHeader(bytes, `pack ${loc.pack} at ${loc.frameOffset}`);
        if (wanted.length === h.chunks.length) {
          yield { codec: h.codec, chunks: h.chunks, payload: bytes.subarray(h.headerLength), release };
          continue;
        }
      }
      release();
      // The pack gone (retired by gc): each chunk is read from where the index now puts it.
      const raw = bytes ? this.frameRaw(loc) : undefined;
      for (const { id, loc: l } of wanted) {
        const data = raw ? raw.subarray(l.innerOffset, l.innerOffset + l.rawLength) : this.getChunk(id);
        partial.chunks.push({ id, length: l.rawLength });
        partial.parts.push(data);
        partial.raw += l.rawLength;
        if (partial.raw >= REFRAME_TARGET) yield flushPartial();
      }
    }
    if (partial.chunks.length > 0) yield flushPartial();
  }

  getRecipe(name: string): Recipe | undefined {
    return this.index.recipe(validateImageName(name));
  }

  listRecipes(): RecipeSummary[] {
    return this.index.summaries();
  }

  /** Chunks of a recipe this store lacks: none for a complete image. */
  missingChunks(recipe: Recipe): number {
    let missing = 0;
    for (let i = 0, n = entryCount(recipe); i < n; i++) {
      const id = entryId(recipe, i);
      if (!id.equals(ZERO_ID) && !this.index.has(id)) missing++;
    }
    return missing;
  }

  /**
   * Stores a recipe, checked first: a valid name, a chunk list matching its digest (else CORRUPT).
   * The same recipe again changes nothing. A different recipe under the name of a complete image
   * is refused (EXISTS) unless `force`; an incomplete one (announced, its chunks elsewhere) is
   * replaced. A site may hold the recipe of an image whose chunks it lacks (push announces images
   * to every site so any of them can find it); export and serve check completeness.
   */
  putRecipe(recipe: Recipe, opts: { force?: boolean } = {}): void {
    validateRecipe(recipe);
    this.index.env.transactionSync(() => {
      const old = this.index.recipe(recipe.name);
      if (old && old.digest === recipe.digest && old.size === recipe.size) return;
      if (old && !opts.force && this.missingChunks(old) === 0)
        throw exists(
          `image '${recipe.name}' already exists here with other content (digest ${old.digest.slice(0, 16)}…); use --force to replace it`,
        );
      this.index.writeRecipe(recipe);
    });
  }

  stats(): StoreStats {
    const heads = this.listRecipes();
    let packBytes = 0;
    for (const id of packIds(this.dir)) packBytes += packSize(packPath(this.dir, id));
    return {
      ...this.index.counters(),
      images: heads.length,
      logicalBytes: heads.reduce((s, h) => s + h.size, 0),
      packBytes,
    };
  }

  /** The consistency check (see check.ts). */
  check(readData: boolean): CheckReport {
    return checkStore(this, readData);
  }

  /** A chunk's location from a fresh read transaction: where gc has put it since. */
  private freshLocation(id: ChunkId): ChunkLocation {
    this.index.env.resetReadTxn();
    const loc = this.index.location(id);
    if (!loc) throw notFound(`chunk ${id.toString("hex")} is no longer in this store`);
    return loc;
  }

  private frameRaw(loc: ChunkLocation): Buffer {
    const key = `${loc.pack}:${loc.frameOffset}`;
    const hit = this.frameCache.get(key);
    if (hit) {
      this.frameCache.delete(key);
      this.frameCache.set(key, hit);
      return hit;
    }
    const bytes = this.packs.read(loc.pack, loc.frameOffset, loc.frameLength);
    const h = parseFrameHeader(bytes, `pack ${loc.pack} at ${loc.frameOffset}`);
    const raw = this.codec.decode(h.codec, bytes.subarray(h.headerLength), h.rawLength);
    this.frameCache.set(key, raw);
    if (this.frameCache.size > FRAME_CACHE) this.frameCache.delete(this.frameCache.keys().next().value!);
    return raw;
  }

  async close(): Promise<void> {
    this.packs.close();
    await this.index.close();
  }
}

/** A pack's size; 0 if gc deleted it since the directory was listed. */
function packSize(path: string): number {
  try {
    return statSync(path).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}
