import { LocalSite } from "../site/local.js";
import type { Store } from "../store/store.js";
import type { ChunkId } from "../store/types.js";
import { notFound } from "../util/errors.js";
import type { OpenedSite, SiteSet } from "./site-set.js";

export interface PlanSites {
  /** What the destination already holds. */
  destHas(ids: ChunkId[]): Promise<boolean[]> | boolean[];
  /** The sites that may send chunks to the destination. */
  candidates: OpenedSite[];
}

/**
 * The destination and the candidate sources of a plan to `dest`, from the sites opened (all the
 * configured ones but this node's). For this node, every opened site is a source; for another
 * site, the opened ones but it, and this node's store too.
 */
export function planSites(store: Store, opened: SiteSet, dest: string): PlanSites {
  const here = store.config.site;
  if (dest === here) return { destHas: (ids) => store.has(ids), candidates: opened.without(here) };
  const destSite = opened.get(dest)?.site;
  if (!destSite) throw notFound(`no reachable site '${dest}'`);
  // Not closed with the others: it is this command's own store.
  const local: OpenedSite = { config: { name: here, url: store.dir }, site: new LocalSite(here, store) };
  return { destHas: (ids) => destSite.has(ids), candidates: [...opened.without(dest), local] };
}
