import { Matrix, type Link } from "../matrix/matrix.js";
import type { OpenSiteOptions } from "../site/kinds.js";
import { SiteRegistry, type SiteConfig } from "../site/registry.js";
import { usage } from "../util/errors.js";
import { runNitroAt, siteResult } from "./remote-pull.js";

/**
 * What `site sync` gives each site: the site list (name, URL, egress cost, remote command,
 * simulated rate) and the matrix links. Never an identity file: it names a key of this node, and
 * each site keeps its own keys (an entry it already has keeps its `identity`).
 */
export interface SyncPayload {
  sites: SiteConfig[];
  links: Link[];
}

export function syncPayload(sites: readonly SiteConfig[], matrix: Matrix): SyncPayload {
  return {
    sites: sites.map((s) => {
      const copy: SiteConfig = { ...s };
      delete copy.identity;
      return copy;
    }),
    links: matrix.links,
  };
}

export interface SyncApplied {
  site: string;
  sites: number;
  links: number;
}

/** Merges a payload into a repository's site list and matrix (entries by name, links by pair). */
export function applySync(repoDir: string, here: string, text: string): SyncApplied {
  let payload: SyncPayload;
  try {
    payload = JSON.parse(text) as SyncPayload;
  } catch {
    throw usage("site sync: the payload is not valid JSON");
  }
  if (!Array.isArray(payload?.sites) || !Array.isArray(payload.links))
    throw usage("site sync: the payload needs 'sites' and 'links' lists");
  const registry = new SiteRegistry(repoDir);
  const mine = new Map(registry.list().map((s) => [s.name, s]));
  for (const s of payload.sites) {
    const identity = mine.get(s.name)?.identity;
    registry.add({ ...s, ...(identity ? { identity } : {}) }, true);
  }
  const matrix = Matrix.load(repoDir);
  matrix.merge(Matrix.fromJson(JSON.stringify({ links: payload.links })));
  matrix.save(repoDir);
  return { site: here, sites: payload.sites.length, links: payload.links.length };
}

export type SyncOutcome = SyncApplied | { site: string; error: string; exitCode: number };

/** Sends the payload to each site, which merges it (`nitro site sync-receive` run there). */
export async function syncSites(
  targets: readonly SiteConfig[],
  payload: SyncPayload,
  open: OpenSiteOptions,
): Promise<SyncOutcome[]> {
  const input = JSON.stringify(payload);
  return Promise.all(
    targets.map(async (cfg) => {
      try {
        const run = await runNitroAt(cfg, ["--json", "site", "sync-receive"], { ...open, input });
        return siteResult<SyncApplied>(cfg.name, run);
      } catch (err) {
        const e = err as Error & { exitCode?: number };
        return { site: cfg.name, error: e.message, exitCode: e.exitCode ?? 8 };
      }
    }),
  );
}
