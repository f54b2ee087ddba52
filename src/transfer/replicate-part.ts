import { uniqueChunks } from "../store/recipe.js";
import { storeFrame, verifyAhead } from "../store/receive.js";
import type { Store } from "../store/store.js";
import type { ChunkId, Recipe } from "../store/types.js";
import type { StoreWriter } from "../store/writer.js";
import { usage } from "../util/errors.js";
import type { PullSource } from "./pull.js";

/** Part `index` of `count` (0 ≤ index < count): which disjoint share of an image's chunks a target scatters. */
export interface Part {
  index: number;
  count: number;
}

export function parsePart(text: string): Part {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || count > 4096 || index >= count)
    throw usage(`--part takes I/K with 0 <= I < K <= 4096, got '${text}'`);
  return { index, count };
}

/** A chunk's part: its id is a uniform hash, so its first four bytes split the chunks evenly. */
export function partOf(id: ChunkId, count: number): number {
  return id.readUInt32LE(0) % count;
}

export interface PartReport {
  image: string;
  part: string;
  /** Chunks of the part, those already here, and those fetched now. */
  chunks: number;
  present: number;
  fetchedChunks: number;
  fetchedBytes: number;
  /** Chunks left for the gather (their holders failed or held none); the full pull fetches them. */
  left: number;
}

const BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Fetches this site's part of an image's missing chunks and commits them without the recipe: the
 * scatter step of a replication. Best effort: chunks it could not get are left to the full pull
 * that follows, which fails over between sources; each chunk goes to the holder that, by the
 * matrix, finishes its share first.
 */
export async function pullPart(
  dest: Store,
  recipe: Recipe,
  sources: readonly PullSource[],
  part: Part,
  lockWait?: number,
): Promise<PartReport> {
  const { ids, lengths } = uniqueChunks(recipe);
  const mine = ids.map((_, i) => i).filter((i) => partOf(ids[i]!, part.count) === part.index);
  const here = await dest.has(mine.map((i) => ids[i]!));
  const need = mine.filter((_, k) => !here[k]);
  const needIds = need.map((i) => ids[i]!);
  const held = await Promise.all(
    sources.map((s) => s.site.has(needIds).catch(() => needIds.map(() => false))),
  );
  const queues: number[][] = sources.map(() => []);
  const load = sources.map(() => 0);
  need.forEach((i, k) => {
    let best = -1;
    for (let s = 0; s < sources.length; s++) {
      if (!held[s]![k]) continue;
      const finish = (load[s]! + lengths[i]!) / sources[s]!.bandwidth;
      if (best < 0 || finish < (load[best]! + lengths[i]!) / sources[best]!.bandwidth) best = s;
    }
    if (best < 0) return;
    queues[best]!.push(i);
    load[best]! += lengths[i]!;
  });
  const got = new Set<string>();
  const writer = await dest.writer(lockWait);
  try {
    await Promise.all(sources.map((s, n) => fetchFrom(s, queues[n]!, ids, lengths, writer, got)));
    await writer.commit();
  } finally {
    writer.close();
  }
  const fetched = need.filter((i) => got.has(ids[i]!.toString("latin1")));
  return {
    image: recipe.name,
    part: `${part.index}/${part.count}`,
    chunks: mine.length,
    present: mine.length - need.length,
    fetchedChunks: fetched.length,
    fetchedBytes: fetched.reduce((n, i) => n + lengths[i]!, 0),
    left: need.length - fetched.length,
  };
}

/** One source's queue, a batch at a time; a failure ends this source's share, not the part. */
async function fetchFrom(
  src: PullSource,
  queue: readonly number[],
  ids: readonly ChunkId[],
  lengths: readonly number[],
  writer: StoreWriter,
  got: Set<string>,
): Promise<void> {
  for (let at = 0; at < queue.length;) {
    const batch: ChunkId[] = [];
    for (let bytes = 0; at < queue.length && bytes < BATCH_BYTES; at++) {
      batch.push(ids[queue[at]!]!);
      bytes += lengths[queue[at]!]!;
    }
    try {
      for await (const checked of verifyAhead(src.site.getFrames(batch))) {
        const keys = checked.frame.chunks.map((c) => c.id.toString("latin1"));
        await storeFrame(writer, checked);
        keys.forEach((k) => got.add(k));
      }
    } catch {
      return;
    }
  }
}
