import type { SiteConfig } from "./registry.js";
import type { ReadSite, SpaceInfo } from "./site.js";

/** Each site's images count and free space, asked of all at once; an unreachable one says why. */
export async function siteSpaces(
  configs: readonly SiteConfig[],
  open: (cfg: SiteConfig) => Promise<ReadSite>,
): Promise<Array<SpaceInfo | { error: string }>> {
  return Promise.all(
    configs.map(async (cfg) => {
      let site: ReadSite | undefined;
      try {
        site = await open(cfg);
        return await site.space();
      } catch (err) {
        return { error: (err as Error).message };
      } finally {
        await site?.close().catch(() => undefined);
      }
    }),
  );
}
