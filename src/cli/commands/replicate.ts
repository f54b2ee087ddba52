import { join } from "node:path";
import type { Command } from "commander";
import { SiteRegistry } from "../../site/registry.js";
import type { ReplicateEvent, ReplicateJob } from "../../transfer/replicate.js";
import { usage } from "../../util/errors.js";
import { CliContext, withStore } from "../context.js";
import { siteList, siteOpener, sshOpenOptions, withSshOptions, type SshCliOptions } from "../site-options.js";

interface ReplicateCliOptions extends SshCliOptions {
  to?: string;
  policy?: string;
}

export function register(program: Command): void {
  withSshOptions(
    program
      .command("replicate [images...]")
      .description("put images at sites, moving only what each lacks, the sites relaying to each other")
      .option("--to <sites>", "target sites, comma-separated")
      .option(
        "--policy <file>",
        'JSON rules: {"rules": [{"images": "debian-*", "sites": "all", "minCopies": 2}]}',
      ),
  )
    .addHelpText(
      "after",
      "\nSilent when all is well; one line per failure; exit 11 when some targets failed and the others are done.\n" +
        "Example:\n  nitro replicate debian-12-lamp alpine-3.20 --to lyon,paris,tokyo\n  nitro --json replicate --policy /etc/nitro/policy.json\n",
    )
    .action(async (images: string[], o: ReplicateCliOptions, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      if (o.policy ? images.length > 0 || o.to : images.length === 0 || !o.to)
        throw usage("give IMAGE... --to SITE[,SITE...], or --policy FILE");
      const [{ RepoLock }, { readConfig }, { SiteSet }, rep, { loadPolicy, policyJobs }] = await Promise.all([
        import("../../store/lock.js"),
        import("../../store/config.js"),
        import("../../transfer/site-set.js"),
        import("../../transfer/replicate.js"),
        import("../../transfer/replicate-policy.js"),
      ]);
      readConfig(ctx.repoDir); // this node's repository must exist (its sites, its lock)
      const rules = o.policy ? loadPolicy(o.policy) : undefined;
      const registry = new SiteRegistry(ctx.repoDir);
      const configs = registry.list();
      const targets = o.to ? siteList(o.to) : [];
      targets.forEach((t) => registry.get(t));
      // A run of its own: the store's lock is taken only by the pulls at each site.
      const lock = await RepoLock.acquire(join(ctx.repoDir, "replicate.lock"), ctx.lockWait);
      try {
        const sum = await withStore(ctx, async (store) => {
          const others = configs.filter((c) => c.name !== store.config.site);
          const sites = await SiteSet.open(others, siteOpener(ctx, o), () => undefined);
          try {
            const jobs: ReplicateJob[] = rules
              ? policyJobs(
                  rules,
                  await knownImages(store, sites.sites),
                  others.map((c) => c.name),
                )
              : images.map((image) => ({ image, sites: targets }));
            return await rep.replicate(
              { store, sites, configs, open: sshOpenOptions(ctx, o), onEvent: (e) => report(ctx, e) },
              jobs,
            );
          } finally {
            await sites.close();
          }
        });
        process.exitCode = rep.replicateExit(sum);
      } finally {
        lock.release();
      }
    });

  program
    .command("pull-part <image>", { hidden: true })
    .description(
      "fetch one disjoint part of an image's missing chunks, without the recipe (replicate's scatter)",
    )
    .requiredOption("--part <i/k>", "the part: chunks whose id falls in share I of K")
    .action(async (image: string, o: { part: string }, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const [{ parsePart, pullPart }, { Matrix }, { describeSources }, { resolveRecipe }, { SiteSet }] =
        await Promise.all([
          import("../../transfer/replicate-part.js"),
          import("../../matrix/matrix.js"),
          import("../../transfer/sources.js"),
          import("../../transfer/recipes.js"),
          import("../../transfer/site-set.js"),
        ]);
      const part = parsePart(o.part);
      await withStore(ctx, async (store) => {
        const here = store.config.site;
        const others = new SiteRegistry(ctx.repoDir).list().filter((c) => c.name !== here);
        const opened = await SiteSet.open(others, siteOpener(ctx, {}), (m) => ctx.info(`note: ${m}`));
        try {
          const recipe = await resolveRecipe(store, image, opened.sites);
          const sources = describeSources(opened.opened, here, Matrix.load(ctx.repoDir), () => undefined);
          const r = await pullPart(store, recipe, sources, part, ctx.lockWait);
          ctx.emit(r, () => `part ${r.part} of ${image}: ${r.fetchedChunks} chunks fetched, ${r.left} left`);
        } finally {
          await opened.close();
        }
      });
    });
}

/** Images named anywhere: this node's and every reachable site's. */
async function knownImages(
  store: import("../../store/store.js").Store,
  sites: ReadonlyArray<import("../../site/site.js").ReadSite>,
): Promise<string[]> {
  const names = new Set(store.listRecipes().map((r) => r.name));
  for (const s of sites) (await s.listRecipes().catch(() => [])).forEach((r) => names.add(r.name));
  return [...names].sort();
}

/** --json: every event as a JSON line; else nothing but one line per failure. */
function report(ctx: CliContext, e: ReplicateEvent): void {
  if (ctx.json) process.stdout.write(JSON.stringify(e) + "\n");
  else if (e.event === "failed")
    process.stderr.write(`nitro: replicate ${e.image} to ${e.site} failed: ${e.error}\n`);
}
