import { join } from "node:path";
import { decodeLocation, type IndexDb } from "./index-db.js";
import { RepoLock } from "./lock.js";
import type { ChunkId } from "./types.js";

/** What dropChunks works on: the index, and the directory holding the repository lock. */
export interface DropTarget {
  readonly dir: string;
  readonly index: IndexDb;
}

/** A chunk found damaged, and the frame (pack and offset) it was found damaged in. */
export interface DamagedAt {
  chunk: ChunkId;
  pack: number;
  offset: number;
}

/**
 * Deletes the index entries of the given chunks in one transaction, under the repository lock (a
 * writer holding it may have skipped a chunk because the index said present), each only if it
 * still points where the chunk was found damaged: a gc since has moved it to a new pack, whole.
 * Afterwards `has` says absent, so a push or pull sends those chunks again. Their bytes stay in
 * the packs, unreferenced, for gc. The counters drop by the chunks and their raw bytes, and by the
 * frames no entry points into any more. Returns how many entries were deleted.
 */
export async function dropChunks(
  store: DropTarget,
  damaged: readonly DamagedAt[],
  lockWait: number,
): Promise<number> {
  if (damaged.length === 0) return 0;
  const lock = await RepoLock.acquire(join(store.dir, "lock"), lockWait);
  try {
    const { index } = store;
    return index.env.transactionSync(() => {
      const frames = new Map<string, number>();
      let dropped = 0;
      let rawBytes = 0;
      for (const { chunk: id, pack, offset } of damaged) {
        const loc = index.location(id);
        if (!loc || loc.pack !== pack || loc.frameOffset !== offset) continue;
        index.chunks.removeSync(id);
        dropped++;
        rawBytes += loc.rawLength;
        frames.set(`${loc.pack}:${loc.frameOffset}`, loc.frameLength);
      }
      // A frame still holding a live chunk still counts as stored.
      for (const { value } of index.chunks.getRange()) {
        if (frames.size === 0) break;
        const loc = decodeLocation(value);
        frames.delete(`${loc.pack}:${loc.frameOffset}`);
      }
      const c = index.counters();
      const freed = [...frames.values()].reduce((s, n) => s + n, 0);
      index.meta.putSync("counters", {
        chunks: Math.max(0, c.chunks - dropped),
        uniqueBytes: Math.max(0, c.uniqueBytes - rawBytes),
        storedBytes: Math.max(0, c.storedBytes - freed),
      });
      return dropped;
    });
  } finally {
    lock.release();
  }
}
