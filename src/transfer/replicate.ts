import type { OpenSiteOptions } from "../site/kinds.js";
import type { SiteConfig } from "../site/registry.js";
import { uniqueChunks } from "../store/recipe.js";
import type { Store } from "../store/store.js";
import type { Recipe } from "../store/types.js";
import { Exit, NitroError, type ExitCode } from "../util/errors.js";
import { remotePull, runNitroAt, siteResult } from "./remote-pull.js";
import type { PartReport } from "./replicate-part.js";
import type { PullReport } from "./pull.js";
import { resolveRecipe } from "./recipes.js";
import type { SiteSet } from "./site-set.js";
import { watchHeld } from "./replicate-watch.js";

/** An image and the sites that must hold it (all of them, or `minCopies` of them). */
export interface ReplicateJob {
  image: string;
  sites: string[];
  minCopies?: number;
}

export type ReplicateEvent =
  | { event: "started"; image: string; site: string; phase: "scatter" | "gather" }
  | {
      event: "progress";
      image: string;
      site: string;
      phase: "scatter";
      fetchedChunks: number;
      fetchedBytes: number;
    }
  | {
      event: "progress";
      image: string;
      site: string;
      phase: "gather";
      heldChunks: number;
      chunks: number;
      heldBytes: number;
      bytes: number;
    }
  | {
      event: "done";
      image: string;
      site: string;
      fetchedChunks: number;
      fetchedBytes: number;
      seconds: number;
      /** Bytes fetched from each source site: the relays show here. */
      sources: Record<string, number>;
    }
  | { event: "failed"; image: string; site: string; error: string; exitCode: number };

export interface ReplicateSummary {
  /** (image, site) pairs already complete, completed now, and failed. */
  complete: number;
  done: number;
  failed: number;
  /** Chunks and bytes the targets fetched (scatter and gather). */
  fetchedChunks: number;
  fetchedBytes: number;
  /** The first failure's exit code, for a run where every target failed. */
  firstFailure?: ExitCode;
}

export interface ReplicateContext {
  store: Store;
  /** Every configured site but this node's own, opened (the unreachable ones left out). */
  sites: SiteSet;
  configs: readonly SiteConfig[];
  open: OpenSiteOptions;
  onEvent(e: ReplicateEvent): void;
}

/**
 * Puts each image at its sites, moving only what they lack. Targets that lack an image scatter
 * first: target i of k fetches part i/k of the chunks (a disjoint share, from the holders), so
 * that the origin sends each byte about once; then each target runs a full pull, planned on its
 * matrix over every holder, the other targets included, which fetches the rest.
 */
export async function replicate(
  ctx: ReplicateContext,
  jobs: readonly ReplicateJob[],
): Promise<ReplicateSummary> {
  const sum: ReplicateSummary = { complete: 0, done: 0, failed: 0, fetchedChunks: 0, fetchedBytes: 0 };
  const fail = (image: string, site: string, err: unknown) => {
    const e =
      err instanceof NitroError ? err : new NitroError(Exit.REMOTE, String((err as Error)?.message ?? err));
    sum.failed++;
    sum.firstFailure ??= e.exitCode;
    ctx.onEvent({ event: "failed", image, site, error: e.message, exitCode: e.exitCode });
  };
  for (const job of jobs) {
    let recipe: Recipe;
    try {
      recipe = await resolveRecipe(ctx.store, job.image, ctx.sites.sites);
    } catch (err) {
      job.sites.forEach((s) => fail(job.image, s, err));
      continue;
    }
    const status = await Promise.all(
      job.sites.map((s) => holdsImage(ctx, s, recipe).catch((e: unknown) => e)),
    );
    const lacking: SiteConfig[] = [];
    let copies = 0;
    status.forEach((st, i) => {
      const site = job.sites[i]!;
      if (st === true) copies++;
      else if (st === false) lacking.push(configOf(ctx, site));
      else fail(job.image, site, st);
    });
    sum.complete += copies;
    const wanted = job.minCopies === undefined ? lacking.length : Math.max(0, job.minCopies - copies);
    const targets = lacking.slice(0, wanted);
    if (targets.length === 0) continue;
    if (targets.length > 1) await scatter(ctx, job.image, targets, sum);
    const stopWatch = watchHeld(
      ctx.sites,
      targets.map((t) => t.name),
      uniqueChunks(recipe),
      (p) => ctx.onEvent({ event: "progress", image: job.image, phase: "gather", ...p }),
    );
    await Promise.all(
      targets.map(async (cfg) => {
        ctx.onEvent({ event: "started", image: job.image, site: cfg.name, phase: "gather" });
        try {
          // Copies asked at the end of a pull would cost the egress replication spares.
          const r = await remotePull<PullReport>(cfg, job.image, { ...ctx.open, pullArgs: ["--no-hedge"] });
          sum.done++;
          sum.fetchedChunks += r.fetchedChunks;
          sum.fetchedBytes += r.fetchedBytes;
          ctx.onEvent({
            event: "done",
            image: job.image,
            site: cfg.name,
            fetchedChunks: r.fetchedChunks,
            fetchedBytes: r.fetchedBytes,
            seconds: r.seconds,
            sources: Object.fromEntries(r.sources.map((x) => [x.site, x.bytes])),
          });
        } catch (err) {
          fail(job.image, cfg.name, err);
        }
      }),
    ).finally(stopWatch);
  }
  return sum;
}

/** Each target fetches its disjoint part; a part that fails is left to the gather. */
async function scatter(ctx: ReplicateContext, image: string, targets: SiteConfig[], sum: ReplicateSummary) {
  await Promise.all(
    targets.map(async (cfg, i) => {
      ctx.onEvent({ event: "started", image, site: cfg.name, phase: "scatter" });
      const args = ["--json", "pull-part", image, "--part", `${i}/${targets.length}`];
      try {
        const r = siteResult<PartReport>(cfg.name, await runNitroAt(cfg, args, ctx.open));
        sum.fetchedChunks += r.fetchedChunks;
        sum.fetchedBytes += r.fetchedBytes;
        ctx.onEvent({
          event: "progress",
          image,
          site: cfg.name,
          phase: "scatter",
          fetchedChunks: r.fetchedChunks,
          fetchedBytes: r.fetchedBytes,
        });
      } catch {
        // The gather pull fetches whatever the scatter did not, and reports a failure itself.
      }
    }),
  );
}

function configOf(ctx: ReplicateContext, name: string): SiteConfig {
  const cfg = ctx.configs.find((c) => c.name === name);
  if (!cfg) throw new NitroError(Exit.NOT_FOUND, `no site '${name}'`);
  return cfg;
}

/** Whether a site holds the image: its recipe and every chunk. Rejects when it is unreachable. */
async function holdsImage(ctx: ReplicateContext, name: string, recipe: Recipe): Promise<boolean> {
  const opened = ctx.sites.get(name);
  if (!opened) {
    configOf(ctx, name);
    throw new NitroError(Exit.REMOTE, `${name} is unreachable`);
  }
  const there = await opened.site.getRecipe(recipe.name);
  if (!there || there.digest !== recipe.digest) return false;
  const held = await opened.site.has(uniqueChunks(recipe).ids);
  return held.every(Boolean);
}

/** The run's exit: 0, PARTIAL when some targets failed and others are done, else the failure's own. */
export function replicateExit(s: ReplicateSummary): ExitCode {
  if (s.failed === 0) return Exit.OK;
  return s.complete + s.done > 0 ? Exit.PARTIAL : (s.firstFailure ?? Exit.REMOTE);
}
