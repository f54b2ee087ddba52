import { statfsSync } from "node:fs";
import type { IndexDb } from "./index-db.js";
import { entryCount, entryId, entryLength, isZeroEntry, validateImageName } from "./recipe.js";
import type { ChunkId, Recipe } from "./types.js";

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

/**
 * A repository's images count and the room left on its filesystem. An object store has no such
 * figure: null there means unknown or unbounded.
 */
export interface SpaceInfo {
  images: number;
  freeBytes: number | null;
  totalBytes: number | null;
}

/** What a site holds of one image, its recipe (if any) given and `has` telling the chunks held. */
export function statusOf(
  name: string,
  recipe: Recipe | undefined,
  has: (id: ChunkId) => boolean,
): ImageStatus {
  if (!recipe) return { name, recipe: false, size: 0, dataBytes: 0, presentBytes: 0, complete: false };
  const held = new Map<string, boolean>();
  let dataBytes = 0;
  let presentBytes = 0;
  for (let i = 0, n = entryCount(recipe); i < n; i++) {
    if (isZeroEntry(recipe, i)) continue;
    const length = entryLength(recipe, i);
    const id = entryId(recipe, i);
    const key = id.toString("latin1");
    let present = held.get(key);
    if (present === undefined) held.set(key, (present = has(id)));
    dataBytes += length;
    if (present) presentBytes += length;
  }
  return {
    name,
    recipe: true,
    size: recipe.size,
    dataBytes,
    presentBytes,
    complete: presentBytes === dataBytes,
  };
}

/** The names a status request asks for: checked and deduplicated, or undefined for every image. */
export function statusNames(names: string[] | undefined): string[] | undefined {
  return names ? [...new Set(names.map((n) => validateImageName(n)))] : undefined;
}

/**
 * The status of the named images (every image with a recipe when `names` is undefined), in one
 * read transaction's worth of index lookups. A name without a recipe is reported as such.
 */
export function imageStatus(index: IndexDb, names?: string[]): ImageStatus[] {
  const wanted = statusNames(names) ?? index.summaries().map((s) => s.name);
  return wanted.map((name) => statusOf(name, index.recipe(name), (id) => index.has(id)));
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
