import type { SiteConfig } from "../site/registry.js";
import { requireWriteSite } from "../site/site.js";
import type { Recipe } from "../store/types.js";
import type { SiteOpener } from "./site-set.js";

/**
 * Sends an image's recipe (metadata only) to sites, so that any of them can find the image. Never
 * forced: a site holding another image of that name keeps it. Resolves to the sites that took it;
 * each one that did not (unreachable, read-only, refused) is noted.
 */
export async function announceRecipe(
  recipe: Recipe,
  sites: readonly SiteConfig[],
  open: SiteOpener,
  note: (message: string) => void,
): Promise<string[]> {
  const done = await Promise.allSettled(
    sites.map(async (cfg) => {
      const site = await open(cfg);
      try {
        await requireWriteSite(site).putRecipe(recipe);
        return cfg.name;
      } finally {
        await site.close();
      }
    }),
  );
  return done.flatMap((r, i) => {
    if (r.status === "fulfilled") return [r.value];
    note(`could not announce ${recipe.name} to ${sites[i]!.name}: ${(r.reason as Error).message}`);
    return [];
  });
}
