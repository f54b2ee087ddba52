import { statSync } from "node:fs";
import { decodeLocation, type ChunkLocation, type IndexDb } from "./index-db.js";
import { packIds, packPath } from "./layout.js";
import { decodeRecipe, entryCount, entryId } from "./recipe.js";
import { ZERO_ID, type ChunkId } from "./types.js";

/** A frame the index points into, with each indexed chunk and whether a recipe uses it. */
export interface IndexedFrame {
  pack: number;
  offset: number;
  length: number;
  chunks: Array<{ id: ChunkId; loc: ChunkLocation; live: boolean }>;
  /** Raw bytes of the indexed chunks, and of those a recipe uses. */
  indexedRaw: number;
  liveRaw: number;
}

export interface PackUse {
  id: number;
  /** Bytes of the pack file. */
  size: number;
  /** Whether any index entry points into it (else a killed write or gc left it behind). */
  indexed: boolean;
  /** Frames with at least one live chunk, in pack order. */
  liveFrames: IndexedFrame[];
  /** Estimated bytes the live chunks take (a frame partly live counts in proportion). */
  liveBytes: number;
}

export interface GcPlan {
  packs: PackUse[];
  /** Packs whose live frames are copied into new packs, then deleted. */
  rewrite: PackUse[];
  /** Packs with nothing live: deleted without copying. */
  drop: PackUse[];
  /** Index entries of chunks no recipe uses. */
  deadChunks: ChunkId[];
  /** The highest pack id present. */
  topPack: number;
}

/**
 * The chunks some recipe uses. Every recipe is a root, complete or not: an announced recipe whose
 * chunks are partly here is a pull or push in progress, and dropping its chunks would throw that
 * progress away.
 */
export function liveChunkKeys(index: IndexDb): Set<string> {
  const live = new Set<string>();
  for (const { value } of index.recipes.getRange()) {
    // Undecodable recipe: decodeRecipe throws CORRUPT, and gc stops before deleting anything.
    const r = decodeRecipe(value);
    for (let i = 0, n = entryCount(r); i < n; i++) {
      const id = entryId(r, i);
      if (!id.equals(ZERO_ID)) live.add(id.toString("latin1"));
    }
  }
  return live;
}

/**
 * What a gc would do: which packs hold what is live, which to rewrite (unused share above
 * maxUnused percent; 0 rewrites any pack with an unused byte) and which to drop. Packs the index
 * does not point into at all (left by a killed write or a killed gc) have nothing live.
 */
export function planGc(dir: string, index: IndexDb, maxUnused: number): GcPlan {
  const live = liveChunkKeys(index);
  const frames = new Map<string, IndexedFrame>();
  const deadChunks: ChunkId[] = [];
  for (const { key, value } of index.chunks.getRange()) {
    const id = Buffer.from(key);
    const loc = decodeLocation(value);
    const isLive = live.has(id.toString("latin1"));
    if (!isLive) deadChunks.push(id);
    const k = `${loc.pack}:${loc.frameOffset}`;
    let f = frames.get(k);
    if (!f) {
      f = {
        pack: loc.pack,
        offset: loc.frameOffset,
        length: loc.frameLength,
        chunks: [],
        indexedRaw: 0,
        liveRaw: 0,
      };
      frames.set(k, f);
    }
    f.chunks.push({ id, loc, live: isLive });
    f.indexedRaw += loc.rawLength;
    if (isLive) f.liveRaw += loc.rawLength;
  }
  const ids = packIds(dir);
  const packs = new Map<number, PackUse>(
    ids.map((id) => [
      id,
      { id, size: statSync(packPath(dir, id)).size, indexed: false, liveFrames: [], liveBytes: 0 },
    ]),
  );
  for (const f of frames.values()) {
    // A frame in a missing pack is damage for `check`; gc leaves it as it is.
    const p = packs.get(f.pack);
    if (!p) continue;
    p.indexed = true;
    if (f.liveRaw === 0) continue;
    p.liveFrames.push(f);
    p.liveBytes += f.liveRaw === f.indexedRaw ? f.length : Math.round((f.length * f.liveRaw) / f.indexedRaw);
  }
  const topPack = Math.max(0, ...ids);
  const rewrite: PackUse[] = [];
  const drop: PackUse[] = [];
  for (const p of packs.values()) {
    p.liveFrames.sort((a, b) => a.offset - b.offset);
    const unused = p.size - p.liveBytes;
    // An empty top pack marks the highest id used, so that no pack id is ever used twice.
    if (p.size === 0 && p.id === topPack) continue;
    if (p.liveFrames.length === 0) drop.push(p);
    else if (unused > 0 && unused * 100 > maxUnused * p.size) rewrite.push(p);
  }
  return { packs: [...packs.values()], rewrite, drop, deadChunks, topPack };
}
