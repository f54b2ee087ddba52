import { isAbsolute } from "node:path";
import { usage } from "../../util/errors.js";
import type { SiteKind } from "../kinds.js";
import type { LocalSiteOptions } from "../registry.js";

const FORM = "/abs/path or file:///abs/path";

function pathOf(url: string): string {
  return url.toLowerCase().startsWith("file://") ? decodeURIComponent(url.slice("file://".length)) : url;
}

/** A repository directory on this machine, opened in-process (optionally behind a simulated link). */
export const localKind: SiteKind<LocalSiteOptions> = {
  name: "local",
  schemes: ["file"],
  bare: (url) => isAbsolute(url),
  urlForm: FORM,
  checkUrl(url) {
    if (!isAbsolute(pathOf(url))) throw usage(`local site URL '${url}' must be ${FORM}`);
  },
  options: { simulateRate: "--simulate-rate" },
  async open(cfg, opts) {
    // Loaded when opened: the store's modules (LMDB) stay out of commands that do not need them.
    const [{ Store }, { LocalSite }, { ThrottledSite }] = await Promise.all([
      import("../../store/store.js"),
      import("../local.js"),
      import("../throttled.js"),
    ]);
    const site = new LocalSite(cfg.name, Store.open(pathOf(cfg.url)), opts.lockWait);
    return cfg.simulateRate ? new ThrottledSite(site, cfg.simulateRate) : site;
  },
};
