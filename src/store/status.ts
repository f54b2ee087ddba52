import { statfsSync } from "node:fs";
import type { IndexDb } from "./index-db.js";
import { entryCount, entryId, entryLength, isZeroEntry, validateImageName } from "./recipe.js";

/** What a site holds of one image: its recipe, and how many of its data bytes. */
export interface ImageStatus {
  name: string;
  /** Whether the site has the image's recipe; without it nothing else is known. */
  recipe: boolean;
  /** Size of the image (0 without a recipe). */
  size: number;
  /** Bytes of the image that are data (zero runs are never stored). */
  dataBytes: number;
  /** Of those, the bytes whose chunks the site holds. */
  presentBytes: number;
  complete: boolean;
}

/** A repository's images count and the room left on its filesystem. */
export interface SpaceInfo {
  images: number;
  freeBytes: number;
  totalBytes: number;
}

/**
 * The status of the named images (every image with a recipe when `names` is undefined), in one
 * read transaction's worth of index lookups. A name without a recipe is reported as such.
 */
export function imageStatus(index: IndexDb, names?: string[]): ImageStatus[] {
  const wanted = names
    ? [...new Set(names.map((n) => validateImageName(n)))]
    : index.summaries().map((s) => s.name);
  return wanted.map((name) => {
    const recipe = index.recipe(name);
    if (!recipe) return { name, recipe: false, size: 0, dataBytes: 0, presentBytes: 0, complete: false };
    const held = new Map<string, boolean>();
    let dataBytes = 0;
    let presentBytes = 0;
    for (let i = 0, n = entryCount(recipe); i < n; i++) {
      if (isZeroEntry(recipe, i)) continue;
      const length = entryLength(recipe, i);
      const id = entryId(recipe, i);
      const key = id.toString("latin1");
      let has = held.get(key);
      if (has === undefined) held.set(key, (has = index.has(id)));
      dataBytes += length;
      if (has) presentBytes += length;
    }
    return {
      name,
      recipe: true,
      size: recipe.size,
      dataBytes,
      presentBytes,
      complete: presentBytes === dataBytes,
    };
  });
}

/** Images count (recipes) and the free and total bytes of the filesystem holding `dir`. */
export function spaceInfo(dir: string, index: IndexDb): SpaceInfo {
  const fs = statfsSync(dir);
  return {
    images: index.summaries().length,
    freeBytes: fs.bavail * fs.bsize,
    totalBytes: fs.blocks * fs.bsize,
  };
}
