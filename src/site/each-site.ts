import { NitroError, type ExitCode } from "../util/errors.js";
import type { SiteConfig } from "./registry.js";
import { requireMaintainSite, type MaintainSite, type ReadSite } from "./site.js";

export type SiteOutcome<T> =
  { site: string; ok: true; value: T } | { site: string; ok: false; error: string; exitCode: ExitCode };

/**
 * Runs a lifecycle operation at each site, all at once: each site is opened, refused up front if
 * read-only, asked, and closed. One site's failure does not stop the others; each outcome says.
 */
export async function atEachMaintainSite<T>(
  configs: readonly SiteConfig[],
  open: (cfg: SiteConfig) => Promise<ReadSite>,
  fn: (site: MaintainSite) => Promise<T>,
): Promise<SiteOutcome<T>[]> {
  return Promise.all(
    configs.map(async (cfg): Promise<SiteOutcome<T>> => {
      let site: ReadSite | undefined;
      try {
        site = await open(cfg);
        return { site: cfg.name, ok: true, value: await fn(requireMaintainSite(site)) };
      } catch (err) {
        if (!(err instanceof NitroError)) throw err;
        return { site: cfg.name, ok: false, error: err.message, exitCode: err.exitCode };
      } finally {
        await site?.close().catch(() => undefined);
      }
    }),
  );
}

/** The exit code of a set of outcomes: the first failure's, else 0. */
export function outcomesExitCode(outcomes: readonly SiteOutcome<unknown>[]): ExitCode | 0 {
  for (const o of outcomes) if (!o.ok) return o.exitCode;
  return 0;
}
