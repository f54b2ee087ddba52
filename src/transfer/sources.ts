import type { Matrix } from "../matrix/matrix.js";
import type { ReadSite } from "../site/site.js";
import type { Recipe } from "../store/types.js";
import type { PullSource } from "./pull.js";
import type { OpenedSite } from "./site-set.js";

/** Used for a link the matrix does not know, with a note: the plan then treats such sites alike. */
export const UNKNOWN_BANDWIDTH = 125e6;

/** Bandwidth, rtt and egress cost from each source to `dest`, as the planner sees them. */
export function describeSources(
  sites: readonly OpenedSite[],
  dest: string,
  matrix: Matrix,
  note: (msg: string) => void,
): PullSource[] {
  return sites.map(({ config, site }) => {
    const link = matrix.get(config.name, dest);
    if (!link)
      note(
        `no bandwidth known for ${config.name} -> ${dest} (run 'nitro probe' or 'nitro matrix set'): assuming 1 Gbit/s`,
      );
    return {
      name: config.name,
      site,
      bandwidth: link?.bandwidth ?? UNKNOWN_BANDWIDTH,
      rtt: link?.rtt ?? 0,
      cost: link?.cost ?? config.egressCost ?? 0,
    };
  });
}

/** The first site that knows the image's recipe. */
export async function findRecipe(name: string, sites: readonly ReadSite[]): Promise<Recipe | undefined> {
  for (const s of sites) {
    const r = await s.getRecipe(name).catch(() => undefined);
    if (r) return r;
  }
  return undefined;
}
