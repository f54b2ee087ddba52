import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { STRATEGIES, type Objective, type Plan, type Strategy } from "../../plan/types.js";
import { SiteRegistry, type SiteConfig } from "../../site/registry.js";
import type { Store } from "../../store/store.js";
import type { Recipe } from "../../store/types.js";
import type { ReadSite } from "../../site/site.js";
import { EarlyQuestions } from "../../transfer/early-questions.js";
import type { Lacking, PullReport, PullSource } from "../../transfer/pull.js";
import type { OpenedSite, OpeningSites } from "../../transfer/site-set.js";
import { usage } from "../../util/errors.js";
import { trace } from "../../util/trace.js";
import { siteTimeout } from "../../wire/liveness.js";
import { formatBytes, formatRate, formatSeconds, parseDuration } from "../../util/units.js";
import { CliContext, withStore } from "../context.js";
import { multiBar } from "../progress.js";
import { siteOpener, sshOpenOptions, withSshOptions, type SshCliOptions } from "../site-options.js";

const require = createRequire(import.meta.url);
const { Option } = require("commander") as typeof import("commander");

/** What plan and pull run on, loaded when they run rather than at every start of nitro. */
async function load() {
  const [matrix, pull, sources, recipes, planSites, svg] = await Promise.all([
    import("../../matrix/matrix.js"),
    import("../../transfer/pull.js"),
    import("../../transfer/sources.js"),
    import("../../transfer/recipes.js"),
    import("../../transfer/plan-sites.js"),
    import("../svg.js"),
  ]);
  return { ...matrix, ...pull, ...sources, ...recipes, ...planSites, ...svg };
}

/** Every configured site but `here`, being opened; unreachable ones are noted and left out. */
async function openOtherSites(
  ctx: CliContext,
  here: string,
  o: SshCliOptions,
  onConnected?: (site: ReadSite) => void,
): Promise<OpeningSites> {
  const { SiteSet } = await import("../../transfer/site-set.js");
  const configs = new SiteRegistry(ctx.repoDir).list().filter((c) => c.name !== here);
  return SiteSet.start(configs, siteOpener(ctx, o, onConnected), (m) => ctx.info(`note: ${m}`));
}

/**
 * Runs `fn` on the store and the other sites, whose SSH handshakes and remote starts begin
 * before the store is loaded (LMDB and the store modules) rather than after: the two overlap.
 * `fn` gets each site as it opens: a site open early is asked early.
 */
async function withStoreAndSites<T>(
  ctx: CliContext,
  o: SshCliOptions,
  fn: (store: Store, opening: OpeningSites) => Promise<T>,
  onConnected?: (site: ReadSite) => void,
): Promise<T> {
  // A bad NITRO_SITE_TIMEOUT is the user's mistake (USAGE), not every site unreachable.
  siteTimeout();
  const { readConfig } = await import("../../store/config.js");
  const opening = openOtherSites(ctx, readConfig(ctx.repoDir).site, o, onConnected);
  try {
    // Loading the SSH modules takes longer than opening the store: the store waits until every
    // site has dialed, so that its loading runs during the handshakes instead of delaying them.
    await opening.then((s) => s.dialed);
    return await withStore(ctx, async (store) => fn(store, await opening));
  } finally {
    await opening.then((s) => s.close()).catch(() => undefined);
    trace("sites closed");
  }
}

/** The sites as they open, as ReadSites. */
const eachSite = (opening: OpeningSites) => opening.each.map((p) => p.then((o) => o?.site));

interface PlanCliOptions extends SshCliOptions {
  site?: string;
  objective: string;
  deadline?: string;
  strategy: Strategy;
}

function objectiveOf(o: PlanCliOptions): Objective {
  if (o.deadline) return { kind: "deadline", seconds: parseDuration(o.deadline) };
  if (o.objective === "time" || o.objective === "cost") return { kind: o.objective };
  throw usage(`--objective is time or cost, got '${o.objective}'`);
}

function planOptions(cmd: Command): Command {
  return withSshOptions(
    cmd
      .option("--site <dest>", "destination site (default: this node's site)")
      .option(
        "--objective <goal>",
        "time (fastest, then cheapest within 1%) or cost (cheapest, then fastest)",
        "time",
      )
      .option("--deadline <duration>", "the cheapest plan finishing within this time (e.g. 90s, 10m)")
      .addOption(
        new Option("--strategy <name>", "planner, or a baseline to compare with")
          .choices(STRATEGIES)
          .default("optimal"),
      ),
  );
}

function planTable(p: Plan, sources: readonly PullSource[]): string {
  const rows = sources.map(
    (s, i) =>
      `${s.name.padEnd(12)} ${String(p.chunksPerSite[i]).padStart(8)} ${formatBytes(p.bytesPerSite[i]!).padStart(11)} ${formatSeconds(p.secondsPerSite[i]!).padStart(9)} ${("$" + p.costPerSite[i]!.toFixed(4)).padStart(9)}`,
  );
  const ratio = p.lowerBound > 0 ? p.makespan / p.lowerBound : 1;
  return [
    `${"site".padEnd(12)} ${"chunks".padStart(8)} ${"bytes".padStart(11)} ${"seconds".padStart(9)} ${"cost".padStart(9)}`,
    ...rows,
    `makespan ${formatSeconds(p.makespan)} (lower bound ${formatSeconds(p.lowerBound)}, ratio ${ratio.toFixed(3)}), cost $${p.cost.toFixed(4)}, strategy ${p.strategy}`,
  ].join("\n");
}

function planJson(p: Plan, sources: readonly PullSource[]) {
  return {
    strategy: p.strategy,
    objective: p.objective,
    makespan: p.makespan,
    lowerBound: p.lowerBound,
    ratio: p.lowerBound > 0 ? p.makespan / p.lowerBound : 1,
    roundingBound: p.roundingBound,
    cost: p.cost,
    sites: sources.map((s, i) => ({
      site: s.name,
      bandwidth: s.bandwidth,
      chunks: p.chunksPerSite[i],
      bytes: p.bytesPerSite[i],
      seconds: p.secondsPerSite[i],
      cost: p.costPerSite[i],
    })),
  };
}

export function register(program: Command): void {
  planOptions(
    program.command("plan <image>").description("plan which site sends which chunk to a destination"),
  )
    .option("--svg <file>", "also draw the per-site load as an SVG bar chart")
    .addHelpText(
      "after",
      "\nExample:\n  nitro plan debian-12-lamp --site paris --objective cost --svg plan.svg\n",
    )
    .action(async (image: string, o: PlanCliOptions & { svg?: string }, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const objective = objectiveOf(o);
      const { Matrix, describeSources, planSites, preparePlan, planSvg, resolveRecipe } = await load();
      await withStoreAndSites(ctx, o, async (store, opening) => {
        const dest = o.site ?? store.config.site;
        if (dest !== store.config.site) new SiteRegistry(ctx.repoDir).get(dest);
        const recipe = await resolveRecipe(store, image, eachSite(opening));
        const { destHas, candidates } = planSites(store, await opening.all, dest);
        const sources = describeSources(candidates, dest, Matrix.load(ctx.repoDir), (m) =>
          ctx.info(`note: ${m}`),
        );
        const prep = await preparePlan(destHas, recipe, sources, {
          objective,
          strategy: o.strategy,
          onEvent: (m) => ctx.info(`note: ${m}`),
        });
        if (o.svg)
          writeFileSync(
            o.svg,
            planSvg(
              prep.plan,
              prep.sources.map((s) => s.name),
              `${image} -> ${dest}`,
            ),
          );
        ctx.emit(
          {
            image,
            dest,
            chunks: prep.chunks,
            present: prep.present,
            missing: prep.needIds.length,
            unassigned: prep.plan.unassigned,
            ...planJson(prep.plan, prep.sources),
          },
          () =>
            [
              `${image} -> ${dest}: ${prep.needIds.length} of ${prep.chunks} chunks to fetch (${formatBytes(prep.rawSizes.reduce((a, b) => a + b, 0))}, ${formatBytes(prep.sizes.reduce((a, b) => a + b, 0))} on the wire)`,
              planTable(prep.plan, prep.sources),
              ...(prep.plan.unassigned > 0
                ? [`WARNING: ${prep.plan.unassigned} chunks are held by no reachable site`]
                : []),
            ].join("\n"),
        );
      });
    });

  planOptions(
    program
      .command("pull <image>")
      .description("rebuild an image at this site, fetching its missing chunks from several sites at once"),
  )
    .option(
      "-o, --output <file>",
      "also write the image file (sparse, verified, atomic); - streams it to stdout",
    )
    .option("--force", "overwrite the output file")
    .option(
      "--no-hedge",
      "at the end, never ask a second source for chunks in flight at a slower one (replicate's pulls: the copies cost egress)",
    )
    .addHelpText(
      "after",
      [
        "",
        "With -o -, the image goes to standard output in order while it is fetched (zero runs as",
        "zeros); a failure part-way is reported on stderr with a non-zero exit status, and what",
        "was written is then a strict prefix of the image.",
        "",
        "Examples:",
        "  nitro pull debian-12-lamp -o /var/lib/libvirt/images/lamp.qcow2",
        "  nitro pull debian-12-lamp -o - | sha256sum",
        "",
      ].join("\n"),
    )
    .action(
      async (
        image: string,
        o: PlanCliOptions & { output?: string; force?: boolean; hedge: boolean },
        cmd: Command,
      ) => {
        const ctx = CliContext.of(cmd);
        const objective = objectiveOf(o);
        const toStdout = o.output === "-";
        if (toStdout && ctx.json)
          throw usage("--json cannot be used with -o - (standard output carries the image)");
        if (toStdout && o.force) throw usage("--force applies to a file, not to -o -");
        const { readConfig } = await import("../../store/config.js");
        const here = readConfig(ctx.repoDir).site;
        if (o.site && o.site !== here) {
          if (toStdout) throw usage("-o - streams here: it cannot be used with --site for another site");
          return pullAtSite(ctx, image, o.site, o);
        }
        if (o.output && !toStdout)
          (await import("../../image/image-file.js")).checkOutputTarget(o.output, o.force ?? false);
        let storeOpen!: (store: Store) => void;
        const opened = new Promise<Store>((resolve) => (storeOpen = resolve));
        // Loaded once the sites have dialed and the store is open (see withStoreAndSites).
        const loading = opened.then(load);
        // The chunks preparePlan will ask about: early holdings are used only for those.
        let lackingHere: ((recipe: Recipe) => Promise<Lacking>) | undefined;
        const lacking = async (recipe: Recipe) => {
          const [store, { lackingOnce }] = await Promise.all([opened, loading]);
          lackingHere ??= lackingOnce((ids) => store.has(ids));
          return lackingHere(recipe);
        };
        const early = new EarlyQuestions(image, async (recipe) => (await lacking(recipe)).needed);
        const asked = (s: OpenedSite | undefined) => s && { ...s, site: early.wrap(s.site) };
        const connected = (site: ReadSite) => early.connected(site);
        await withStoreAndSites(
          ctx,
          o,
          async (store, opening) => {
            storeOpen(store);
            const local = store.getRecipe(image);
            if (local) early.known(local);
            const { Matrix, describeSource, pullChunks, resolveRecipe, warmReceiver } = await loading;
            warmReceiver();
            const each = opening.each.map((p) => p.then(asked));
            const recipe = await resolveRecipe(
              store,
              image,
              each.map((p) => p.then((s) => s?.site)),
            );
            const matrix = Matrix.load(ctx.repoDir);
            const sources = each.map((p) =>
              p.then((s) => s && describeSource(s, here, matrix, (m) => ctx.info(`note: ${m}`))),
            );
            const bars = multiBar(ctx);
            const barOf = new Map<string, ReturnType<typeof bars.bar>>();
            const report = await pullChunks(store, recipe, sources, {
              objective,
              strategy: o.strategy,
              hedge: o.hedge,
              lockWait: ctx.lockWait,
              since: 0, // the start of this process
              lacking,
              output: o.output && !toStdout ? { path: o.output, force: o.force } : undefined,
              stream: toStdout ? process.stdout : undefined,
              onPlan: (p, srcs) => {
                ctx.info(planTable(p, srcs));
                srcs.forEach((s, i) => barOf.set(s.name, bars.bar(s.name.padEnd(10), p.bytesPerSite[i]!)));
              },
              onProgress: (s, bytes) => barOf.get(s)?.update(bytes),
              onEvent: (m) => ctx.info(`note: ${m}`),
            }).finally(() => bars.stop());
            if (report.fetchedChunks > 0) report.unheard.push(...opening.stillOpening());
            if (report.unheard.length > 0)
              ctx.info(
                `note: ${report.unheard.join(", ")} had not answered when the pull was done: left out`,
              );
            if (toStdout) return ctx.info(describePull(report, "standard output"));
            ctx.emit({ ...report, output: o.output ?? null }, () => describePull(report, o.output));
          },
          connected,
        );
      },
    );
}

/**
 * `pull --site X` for another site X: the pull runs at X (over SSH, with X's own sites and keys),
 * its report comes back here; `-o` names a file at X.
 */
async function pullAtSite(
  ctx: CliContext,
  image: string,
  site: string,
  o: PlanCliOptions & { output?: string; force?: boolean },
): Promise<void> {
  const { remotePull, forwardedPullArgs } = await import("../../transfer/remote-pull.js");
  const cfg = new SiteRegistry(ctx.repoDir).get(site);
  ctx.info(`pulling ${image} at ${site}...`);
  const stopBar = ctx.showProgress ? await followAtSite(ctx, cfg, image, o) : () => Promise.resolve();
  const report = await remotePull<PullReport & { output: string | null }>(cfg, image, {
    ...sshOpenOptions(ctx, o),
    pullArgs: forwardedPullArgs(o),
  }).finally(stopBar);
  ctx.emit({ ...report, site }, () => `at ${site}: ${describePull(report, report.output ?? undefined)}`);
}

/** A bar of the bytes the far site holds of the image, asked every 2 s (none if it knows no recipe yet). */
async function followAtSite(ctx: CliContext, cfg: SiteConfig, image: string, o: SshCliOptions) {
  const [{ SiteSet }, { watchHeld }, { uniqueChunks }, { byteBar }] = await Promise.all([
    import("../../transfer/site-set.js"),
    import("../../transfer/replicate-watch.js"),
    import("../../store/recipe.js"),
    import("../progress.js"),
  ]);
  const sites = await SiteSet.open([cfg], siteOpener(ctx, o), () => undefined);
  const recipe = await sites
    .get(cfg.name)
    ?.site.getRecipe(image)
    .catch(() => undefined);
  if (!recipe) {
    await sites.close();
    return () => Promise.resolve();
  }
  const chunks = uniqueChunks(recipe);
  const bar = byteBar(
    ctx,
    cfg.name,
    chunks.lengths.reduce((a, b) => a + b, 0),
  );
  const stop = watchHeld(sites, [cfg.name], chunks, (p) => bar.update(p.heldBytes), 1000);
  return async () => {
    stop();
    bar.stop();
    await sites.close();
  };
}

function describePull(r: PullReport, output?: string): string {
  const rows = r.sources.map(
    (s) =>
      `${s.site.padEnd(12)} planned ${formatBytes(s.plannedBytes).padStart(10)} in ${formatSeconds(s.plannedSeconds).padStart(8)}  actual ${formatBytes(s.bytes).padStart(10)} in ${formatSeconds(s.seconds).padStart(8)} ${formatRate(s.bytes / Math.max(s.seconds, 1e-9)).padStart(10)}${s.joined !== undefined ? `  joined at ${formatSeconds(s.joined)}` : ""}${s.stole ? `  took over ${s.stole} chunks` : ""}${s.failed ? `  FAILED: ${s.failed}` : ""}`,
  );
  const st = r.stealing;
  return [
    `pulled ${r.image}: ${r.fetchedChunks} chunks (${formatBytes(r.fetchedBytes)}, ${formatBytes(r.wireBytes)} on the wire) fetched, ${r.present} already here`,
    ...rows,
    st.chunks > 0
      ? `stealing: ${st.chunks} chunks (${formatBytes(st.bytes)}) taken over from their planned sites, egress ${st.cost >= 0 ? "+" : "-"}$${Math.abs(st.cost).toFixed(4)}`
      : "stealing: none",
    r.replanning.times > 0
      ? `replanned ${r.replanning.times}x at the rates measured: ${r.replanning.chunks} chunks (${formatBytes(r.replanning.bytes)}) moved to other sources`
      : "replanned: never (the plan ran as made)",
    ...(r.hedging.chunks > 0
      ? [
          `at the end, ${r.hedging.chunks} chunks (${formatBytes(r.hedging.bytes)}) in flight at slower sources were asked again of faster ones; ${r.hedging.won} came from them first`,
        ]
      : []),
    `predicted ${formatSeconds(r.predictedMakespan)} (lower bound ${formatSeconds(r.lowerBound)}), actual ${formatSeconds(r.seconds)}, egress $${r.cost.toFixed(4)} (planned $${r.plannedCost.toFixed(4)})`,
    ...(output ? [`wrote ${output} (digest verified)`] : []),
  ].join("\n");
}
