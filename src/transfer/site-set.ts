import type { SiteConfig } from "../site/registry.js";
import type { ReadSite } from "../site/site.js";

export interface OpenedSite {
  config: SiteConfig;
  site: ReadSite;
}

/** How a command opens one configured site (its SSH options bound); see OpenSiteOptions.onDialed. */
export type SiteOpener = (cfg: SiteConfig, hooks?: { onDialed?: () => void }) => Promise<ReadSite>;

/** A value, or one still being made (a site still opening: undefined if it cannot be). */
export type Eventually<T> = T | Promise<T>;

/** Sites being opened: each as it comes (undefined if unreachable), and all of them. */
export interface OpeningSites {
  each: Array<Promise<OpenedSite | undefined>>;
  all: Promise<SiteSet>;
  /** Resolves once every site has begun connecting over the network or has finished opening. */
  dialed: Promise<void>;
  /** The sites that have neither opened nor failed yet. */
  stillOpening(): string[];
  /**
   * Closes the sites open now; one still opening is closed when it opens, not waited for (a site
   * that does not answer its handshake would hold the command until its deadline).
   */
  close(): Promise<void>;
}

/** Sites opened together: in parallel, the unreachable ones noted and left out, all closed at once. */
export class SiteSet {
  private constructor(readonly opened: readonly OpenedSite[]) {}

  static async open(
    configs: readonly SiteConfig[],
    open: SiteOpener,
    note: (message: string) => void,
  ): Promise<SiteSet> {
    return SiteSet.start(configs, open, note).all;
  }

  /** Opens the sites in parallel; a caller may start work with each as soon as it is open. */
  static start(
    configs: readonly SiteConfig[],
    open: SiteOpener,
    note: (message: string) => void,
  ): OpeningSites {
    const setOf = (sites: Array<OpenedSite | undefined | null>) =>
      new SiteSet(sites.filter((s): s is OpenedSite => !!s));
    const dials: Array<Promise<unknown>> = [];
    const settled: Array<OpenedSite | undefined | null> = configs.map(() => null);
    const each = configs.map((config, i) => {
      let onDialed!: () => void;
      const dialed = new Promise<void>((resolve) => (onDialed = resolve));
      const opened = open(config, { onDialed }).then(
        (site): OpenedSite => ({ config, site }),
        (err: unknown) => {
          note(`${config.name} is unreachable and left out: ${(err as Error).message}`);
          return undefined;
        },
      );
      dials.push(Promise.race([dialed, opened]));
      void opened.then((s) => (settled[i] = s));
      return opened;
    });
    const all = Promise.all(each).then(setOf);
    return {
      each,
      all,
      dialed: Promise.all(dials).then(() => undefined),
      stillOpening: () => configs.filter((_, i) => settled[i] === null).map((c) => c.name),
      close: async () => {
        each.forEach((p, i) => settled[i] === null && void p.then((s) => setOf([s]).close()));
        await setOf(settled).close();
      },
    };
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
