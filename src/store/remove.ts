import { notFound } from "../util/errors.js";
import type { IndexDb } from "./index-db.js";
import { validateImageName } from "./recipe.js";

/**
 * Removes the recipes of the named images, all or none: an unknown name is NOT_FOUND (naming
 * every unknown one) and nothing is removed. Their chunks stay until `gcStore` reclaims them.
 * Returns the names removed, each once, in the order given.
 */
export function removeRecipes(
  store: { readonly dir: string; readonly index: IndexDb },
  names: string[],
): string[] {
  const wanted = [...new Set(names.map((n) => validateImageName(n)))];
  return store.index.env.transactionSync(() => {
    const unknown = wanted.filter(
      (n) => store.index.heads.get(n) === undefined && !store.index.recipes.doesExist(n),
    );
    if (unknown.length > 0)
      throw notFound(
        `no image ${unknown.map((n) => `'${n}'`).join(", ")} in ${store.dir} (see 'nitro ls'); nothing removed`,
      );
    for (const n of wanted) store.index.deleteRecipe(n);
    return wanted;
  });
}
