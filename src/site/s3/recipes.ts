import {
  decodeRecipe,
  encodeRecipe,
  entryCount,
  entryId,
  summarize,
  validateImageName,
  verifyRecipe,
} from "../../store/recipe.js";
import { ZERO_ID, type Recipe, type RecipeSummary } from "../../store/types.js";
import { exists, notFound } from "../../util/errors.js";
import type { Bucket } from "./bucket.js";
import { RECIPES, recipeKey } from "./layout.js";
import { mapLimit } from "./parallel.js";
import type { SiteIndex } from "./site-index.js";

const GETS_IN_FLIGHT = 8;

export async function getRecipeFromBucket(bucket: Bucket, name: string): Promise<Recipe | undefined> {
  validateImageName(name);
  const key = recipeKey(name);
  const bytes = await bucket.get(key);
  return bytes ? decodeRecipe(bytes) : undefined;
}

/**
 * Stores a recipe with the store's rules (src/store/store.ts putRecipe): checked first; the same
 * recipe again changes nothing; another recipe under the name of a complete image is refused
 * (EXISTS) unless `force`. The recipe object is the one key a writer may replace. A new name is
 * created with a conditional PUT where the server has it (AWS, MinIO), so two pushes of different
 * images under one name at once cannot both win; on s3api (no conditional PUT) the last one does.
 */
export async function putRecipeToBucket(
  bucket: Bucket,
  index: SiteIndex,
  recipe: Recipe,
  force: boolean,
): Promise<void> {
  validateImageName(recipe.name);
  verifyRecipe(recipe);
  const body = encodeRecipe(recipe);
  // Twice at most: a conditional create that finds the name taken meanwhile decides again.
  for (let round = 0; ; round++) {
    const old = await getRecipeFromBucket(bucket, recipe.name);
    if (old && old.digest === recipe.digest && old.size === recipe.size) return;
    if (old && !force) {
      await index.ensure();
      if (complete(old, index))
        throw exists(
          `image '${recipe.name}' already exists here with other content (digest ${old.digest.slice(0, 16)}…); use --force to replace it`,
        );
    }
    if (old || round > 0) return bucket.put(recipeKey(recipe.name), body);
    if (await bucket.create(recipeKey(recipe.name), body)) return;
  }
}

export async function listRecipesInBucket(bucket: Bucket): Promise<RecipeSummary[]> {
  return (await allRecipesInBucket(bucket)).map(summarize);
}

/** Every recipe the site holds. */
export async function allRecipesInBucket(bucket: Bucket): Promise<Recipe[]> {
  // A key that is no image name (put there by something else) is not an image of the site.
  const names = (await bucket.list(RECIPES)).map((o) => o.key.slice(RECIPES.length)).filter(isImageName);
  const recipes = await mapLimit(names, GETS_IN_FLIGHT, (n) => getRecipeFromBucket(bucket, n));
  return recipes.filter((r): r is Recipe => r !== undefined);
}

/** Deletes the named recipes, all or none: an unknown name is NOT_FOUND before any is deleted. */
export async function removeRecipesFromBucket(bucket: Bucket, names: string[]): Promise<string[]> {
  const wanted = [...new Set(names.map((n) => validateImageName(n)))];
  const present = await mapLimit(wanted, GETS_IN_FLIGHT, (n) => bucket.exists(recipeKey(n)));
  const missing = wanted.filter((_, i) => !present[i]);
  if (missing.length > 0) throw notFound(`no image ${missing.map((n) => `'${n}'`).join(", ")} here`);
  for (const n of wanted) await bucket.delete(recipeKey(n));
  return wanted;
}

function isImageName(name: string): boolean {
  try {
    validateImageName(name);
    return true;
  } catch {
    return false;
  }
}

function complete(recipe: Recipe, index: SiteIndex): boolean {
  for (let i = 0, n = entryCount(recipe); i < n; i++) {
    const id = entryId(recipe, i);
    if (!id.equals(ZERO_ID) && !index.has(id)) return false;
  }
  return true;
}
