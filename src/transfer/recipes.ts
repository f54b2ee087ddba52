import { basename, extname } from "node:path";
import type { ReadSite } from "../site/site.js";
import type { Store } from "../store/store.js";
import type { Recipe } from "../store/types.js";
import { notFound } from "../util/errors.js";
import type { Eventually } from "./site-set.js";
import { findRecipe } from "./sources.js";

/** The name an image file gets unless one is given: its file name without extension. */
export function defaultImageName(file: string): string {
  return basename(file, extname(file));
}

/** The recipe of an image of this node's store, or a clear NOT_FOUND. */
export function requireRecipe(store: Store, name: string): Recipe {
  const r = store.getRecipe(name);
  if (!r) throw notFound(`no image '${name}' in ${store.dir} (see 'nitro ls')`);
  return r;
}

/** The recipe from this node's store, else from the first site that knows it. */
export async function resolveRecipe(
  store: Store,
  name: string,
  sites: ReadonlyArray<Eventually<ReadSite | undefined>>,
): Promise<Recipe> {
  const r = store.getRecipe(name) ?? (await findRecipe(name, sites));
  if (!r) throw notFound(`no site knows an image '${name}'`);
  return r;
}
