import { readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FRAME_HEADER_BYTES } from "../../store/pack.js";
import { ENTRY_BYTES, type ChunkId, type StoredSizes } from "../../store/types.js";
import type { Bucket } from "./bucket.js";
import { INDEXES, indexKey, isPackId, packIdOfIndexKey } from "./layout.js";
import { decodePackIndex, type PackEntry } from "./pack-index.js";
import { mapLimit } from "./parallel.js";
import { makeDirs } from "../../util/make-dirs.js";

export interface ChunkLocation extends Omit<PackEntry, "id"> {
  pack: string;
}

const FETCH_IN_FLIGHT = 8;

/**
 * Which chunks the site holds and where: the union of its pack index objects. Listing `index/`
 * tells which packs exist; each index object is immutable, so a copy kept in `cacheDir` stays
 * valid as long as the listing names it, and only new ones are fetched. The listing is made on
 * first use and again when a chunk is looked for and not found; `has` answers from memory.
 */
export class SiteIndex {
  private readonly chunks = new Map<string, ChunkLocation>();
  /** Per frame ("pack:offset"): its raw bytes and chunk count, for the stored size of a chunk. */
  private readonly frames = new Map<string, { raw: number; count: number }>();
  private readonly packs = new Set<string>();
  private loaded: Promise<void> | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly bucket: Bucket,
    private readonly cacheDir: string | undefined,
  ) {
    if (cacheDir) makeDirs(cacheDir);
  }

  /** Loads the index unless it already is. */
  ensure(): Promise<void> {
    // A failed first load is not kept: the next call tries again.
    return (this.loaded ??= this.refresh().catch((err: unknown) => {
      this.loaded = undefined;
      throw err;
    }));
  }

  /** Lists the index objects again: takes in new packs, forgets removed ones. */
  refresh(): Promise<void> {
    return (this.refreshing ??= this.reload().finally(() => (this.refreshing = undefined)));
  }

  has(id: ChunkId): boolean {
    return this.chunks.has(id.toString("latin1"));
  }

  location(id: ChunkId): ChunkLocation | undefined {
    return this.chunks.get(id.toString("latin1"));
  }

  /**
   * The bytes a chunk costs on the wire, as the store counts them: its share of its frame's
   * compressed payload, in proportion to its raw length, plus its header entry. 0: not held.
   */
  storedSize(id: ChunkId): number {
    const loc = this.location(id);
    if (!loc) return 0;
    const frame = this.frames.get(`${loc.pack}:${loc.frameOffset}`);
    if (!frame || frame.raw === 0) return loc.frameLength;
    const payload = loc.frameLength - FRAME_HEADER_BYTES - frame.count * ENTRY_BYTES;
    return Math.ceil((loc.rawLength * payload) / frame.raw) + ENTRY_BYTES;
  }

  /** storedSize of each id, and which frame (pack and offset) holds it. */
  storedSizes(ids: ChunkId[]): StoredSizes {
    const sizes = Uint32Array.from(ids, (id) => this.storedSize(id));
    const ordinals = new Map<string, number>();
    const frames = Uint32Array.from(ids, (id) => {
      const loc = this.location(id);
      if (!loc) return 0;
      const key = `${loc.pack}:${loc.frameOffset}`;
      let ordinal = ordinals.get(key);
      if (ordinal === undefined) ordinals.set(key, (ordinal = ordinals.size));
      return ordinal;
    });
    return { sizes, frames };
  }

  get packCount(): number {
    return this.packs.size;
  }

  /** Takes in a pack this process has just written (its index object already stored). */
  addWritten(pack: string, entries: PackEntry[], indexBytes: Buffer): void {
    this.saveToCache(pack, indexBytes);
    this.add(pack, entries);
  }

  private async reload(): Promise<void> {
    // Packs this process writes while the listing runs are not in it, and must not be forgotten.
    const before = new Set(this.packs);
    const listed = new Set<string>();
    for (const o of await this.bucket.list(INDEXES)) {
      const pack = packIdOfIndexKey(o.key);
      if (pack) listed.add(pack);
    }
    let load = [...listed].filter((p) => !this.packs.has(p));
    if ([...before].some((p) => !listed.has(p))) {
      // A pack is gone (removed by gc): start again from the listing, which the cache makes
      // cheap, so that no chunk is left pointing at it.
      const written = [...this.packs].filter((p) => !before.has(p));
      this.packs.clear();
      this.chunks.clear();
      this.frames.clear();
      load = [...new Set([...listed, ...written])];
    }
    const loaded = await mapLimit(load, FETCH_IN_FLIGHT, async (p) => ({ p, entries: await this.load(p) }));
    for (const { p, entries } of loaded) this.add(p, entries);
    this.pruneCache(new Set([...listed, ...this.packs]));
  }

  private add(pack: string, entries: PackEntry[]): void {
    this.packs.add(pack);
    for (const e of entries) {
      const key = `${pack}:${e.frameOffset}`;
      const f = this.frames.get(key) ?? { raw: 0, count: 0 };
      f.raw = Math.max(f.raw, e.innerOffset + e.rawLength);
      f.count++;
      this.frames.set(key, f);
    }
    for (const { id, ...where } of entries) {
      const key = id.toString("latin1");
      // Two writers at once may both store a chunk: either copy serves.
      if (!this.chunks.has(key)) this.chunks.set(key, { pack, ...where });
    }
  }

  private async load(pack: string): Promise<PackEntry[]> {
    const cached = this.readCache(pack);
    if (cached) return cached;
    const key = indexKey(pack);
    const bytes = await this.bucket.get(key);
    // Listed a moment ago but gone now: removed meanwhile, so it holds nothing to count on.
    if (!bytes) return [];
    const entries = decodePackIndex(bytes, `s3 object ${key}`);
    this.saveToCache(pack, bytes);
    return entries;
  }

  private readCache(pack: string): PackEntry[] | undefined {
    if (!this.cacheDir) return undefined;
    try {
      return decodePackIndex(readFileSync(join(this.cacheDir, `${pack}.idx`)), "cached pack index");
    } catch {
      return undefined; // absent or damaged: fetched again
    }
  }

  private saveToCache(pack: string, bytes: Buffer): void {
    if (!this.cacheDir) return;
    const path = join(this.cacheDir, `${pack}.idx`);
    const tmp = `${path}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, bytes);
      renameSync(tmp, path);
    } catch {
      rmSync(tmp, { force: true }); // a cache that cannot be written only costs a fetch next time
    }
  }

  private pruneCache(keep: Set<string>): void {
    if (!this.cacheDir) return;
    for (const f of readdirSync(this.cacheDir)) {
      const pack = f.endsWith(".idx") ? f.slice(0, -4) : undefined;
      if (pack && isPackId(pack) && !keep.has(pack)) rmSync(join(this.cacheDir, f), { force: true });
    }
  }
}
