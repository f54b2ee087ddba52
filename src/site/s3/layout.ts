import { randomBytes } from "node:crypto";

/**
 * The objects of an s3:// site under its prefix. Packs and their index objects are immutable and
 * uniquely named, so concurrent writers never overwrite each other (s3api has no conditional PUT):
 *   nitro-site.json        the site's format and version
 *   packs/ID.pack          frames back to back, as in a repository's packs (src/store/pack.ts)
 *   index/ID.idx           the chunks of packs/ID.pack (src/site/s3/pack-index.ts); written after it
 *   recipes/NAME           an image's recipe (src/store/recipe.ts's encoding)
 *   probe/4MiB             random bytes that `probe` downloads
 *   locks/ID.json          a lock (lock.ts): shared by writers and readers, exclusive for gc and repair
 */
export const SITE_CONFIG_KEY = "nitro-site.json";
export const SITE_FORMAT = "nitro-s3-site";
export const SITE_VERSION = 1;

export const PACKS = "packs/";
export const INDEXES = "index/";
export const RECIPES = "recipes/";
export const LOCKS = "locks/";
export const PROBE_KEY = "probe/4MiB";
export const PROBE_OBJECT_BYTES = 4 * 1024 * 1024;

const PACK_ID = /^[0-9a-z]{1,12}-[0-9a-f]{16}$/;

/** Time-ordered for people listing the bucket, random so that two writers never pick the same. */
export function newPackId(): string {
  return `${Date.now().toString(36)}-${randomBytes(8).toString("hex")}`;
}

export const packKey = (id: string) => `${PACKS}${id}.pack`;
export const indexKey = (id: string) => `${INDEXES}${id}.idx`;
export const lockKey = (id: string) => `${LOCKS}${id}.json`;
export const recipeKey = (name: string) => `${RECIPES}${name}`;

/** The pack id of an index object's key (relative to the prefix), or undefined for a stray key. */
export function packIdOfIndexKey(key: string): string | undefined {
  const m = /^index\/(.+)\.idx$/.exec(key);
  return m && PACK_ID.test(m[1]!) ? m[1] : undefined;
}

/** The pack id of a pack object's key (relative to the prefix), or undefined for a stray key. */
export function packIdOfPackKey(key: string): string | undefined {
  const m = /^packs\/(.+)\.pack$/.exec(key);
  return m && PACK_ID.test(m[1]!) ? m[1] : undefined;
}

export function isPackId(id: string): boolean {
  return PACK_ID.test(id);
}
