import { checkSiteUrl, type OpenSiteOptions } from "./kinds.js";
import type { SiteConfig } from "./registry.js";
import { requireWriteSite, type ReadSite, type WriteSite } from "./site.js";

export type { OpenSiteOptions } from "./kinds.js";

/** Opens a configured site with its kind: a WriteSite, or a ReadSite only when it refuses writes. */
export function openSite(cfg: SiteConfig, opts: OpenSiteOptions = {}): Promise<ReadSite> {
  return checkSiteUrl(cfg.url).open(cfg, opts);
}

/** Opens a site to write to; one that refuses writes is closed and refused (exit 1) up front. */
export async function openWriteSite(cfg: SiteConfig, opts: OpenSiteOptions = {}): Promise<WriteSite> {
  const site = await openSite(cfg, opts);
  try {
    return requireWriteSite(site);
  } catch (err) {
    await site.close().catch(() => undefined);
    throw err;
  }
}
