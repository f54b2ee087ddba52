import type { SiteConfig } from "../site/registry.js";
import type { ReadSite } from "../site/site.js";

export interface OpenedSite {
  config: SiteConfig;
  site: ReadSite;
}

/** How a command opens one configured site (its SSH options bound). */
export type SiteOpener = (cfg: SiteConfig) => Promise<ReadSite>;

/** Sites opened together: in parallel, the unreachable ones noted and left out, all closed at once. */
export class SiteSet {
  private constructor(readonly opened: readonly OpenedSite[]) {}

  static async open(
    configs: readonly SiteConfig[],
    open: SiteOpener,
    note: (message: string) => void,
  ): Promise<SiteSet> {
    const settled = await Promise.allSettled(configs.map((c) => open(c)));
    const opened = settled.flatMap((r, i) => {
      const config = configs[i]!;
      if (r.status === "fulfilled") return [{ config, site: r.value }];
      note(`${config.name} is unreachable and left out: ${(r.reason as Error).message}`);
      return [];
    });
    return new SiteSet(opened);
  }

  get(name: string): OpenedSite | undefined {
    return this.opened.find((s) => s.config.name === name);
  }

  /** The opened sites but `name`. */
  without(name: string): OpenedSite[] {
    return this.opened.filter((s) => s.config.name !== name);
  }

  get sites(): ReadSite[] {
    return this.opened.map((s) => s.site);
  }

  /** Closes every site; a failure to close one does not keep the others open. */
  async close(): Promise<void> {
    await Promise.all(this.opened.map((s) => s.site.close().catch(() => undefined)));
  }
}
