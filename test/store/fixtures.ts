import { join } from "node:path";
import { blake3 } from "@napi-rs/blake-hash";
import { chunkerParams } from "../../src/chunk/chunker.js";
import { EntriesBuilder, recipeDigest } from "../../src/store/recipe.js";
import { Store } from "../../src/store/store.js";
import type { ChunkId, Recipe } from "../../src/store/types.js";
import { pseudoRandom } from "../helpers/data.js";

export const CHUNK = 64 * 1024;

/** A store of raw (uncompressed) frames, so that a test can damage chosen bytes of a chunk. */
export function rawStore(dir: string, name = "s"): Store {
  return Store.init(join(dir, name), {
    site: name,
    chunker: chunkerParams("fixed", CHUNK),
    compression: { codec: "none", level: 0 },
  });
}

/** `count` distinct chunks of CHUNK pseudo-random bytes. */
export function makeChunks(seed: string, count: number): Array<{ id: ChunkId; data: Buffer }> {
  const data = pseudoRandom(seed, count * CHUNK);
  return Array.from({ length: count }, (_, i) => {
    const chunk = data.subarray(i * CHUNK, (i + 1) * CHUNK);
    return { id: blake3(chunk), data: chunk };
  });
}

/** The recipe of an image made of these chunks, in order. */
export function recipeOf(store: Store, name: string, chunks: Array<{ id: ChunkId }>): Recipe {
  const b = new EntriesBuilder();
  for (const c of chunks) b.add(c.id, CHUNK);
  const entries = b.finish();
  const size = chunks.length * CHUNK;
  return {
    name,
    size,
    chunker: store.config.chunker,
    digest: recipeDigest(size, entries),
    created: new Date().toISOString(),
    entries,
  };
}

/** Stores the chunks (in 2 MiB frames, one pack) and commits with the recipes. */
export async function storeImages(
  store: Store,
  chunks: Array<{ id: ChunkId; data: Buffer }>,
  recipes: Recipe[],
): Promise<void> {
  const writer = await store.writer();
  try {
    for (const c of chunks) writer.addChunk(c.id, c.data);
    await writer.commit();
    for (const r of recipes) await writer.commit(r);
  } finally {
    writer.close();
  }
}

/**
 * Two packs of 64 chunks (2 MiB frames of 32): image a uses the first, b the second, and c half
 * of b's chunks, so that removing a and b leaves one pack dead and the other half live.
 */
export async function twoPacks(store: Store, seed: string) {
  const a = makeChunks(`${seed}-a`, 64);
  const b = makeChunks(`${seed}-b`, 64);
  await storeImages(store, a, [recipeOf(store, "a", a)]);
  await storeImages(store, b, [recipeOf(store, "b", b), recipeOf(store, "c", b.slice(16, 48))]);
  return { a, b };
}
