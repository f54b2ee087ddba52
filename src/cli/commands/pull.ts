import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { STRATEGIES, type Objective, type Plan, type Strategy } from "../../plan/types.js";
import { SiteRegistry } from "../../site/registry.js";
import type { Store } from "../../store/store.js";
import type { PullReport, PullSource } from "../../transfer/pull.js";
import { usage } from "../../util/errors.js";
import { siteTimeout } from "../../wire/liveness.js";
import { formatBytes, formatRate, formatSeconds, parseDuration } from "../../util/units.js";
import { CliContext, withStore } from "../context.js";
import { multiBar } from "../progress.js";
import { siteOpener, withSshOptions, type SshCliOptions } from "../site-options.js";

const require = createRequire(import.meta.url);
const { Option } = require("commander") as typeof import("commander");

/** What plan and pull run on, loaded when they run rather than at every start of nitro. */
async function load() {
  const [exp, matrix, pull, sources, recipes, planSites, svg] = await Promise.all([
    import("../../image/export.js"),
    import("../../matrix/matrix.js"),
    import("../../transfer/pull.js"),
    import("../../transfer/sources.js"),
    import("../../transfer/recipes.js"),
    import("../../transfer/plan-sites.js"),
    import("../svg.js"),
  ]);
  return { ...exp, ...matrix, ...pull, ...sources, ...recipes, ...planSites, ...svg };
}

/** Every configured site but this node's own, opened; unreachable ones are noted and left out. */
async function openOtherSites(ctx: CliContext, store: Store, o: SshCliOptions) {
  const { SiteSet } = await import("../../transfer/site-set.js");
  // A bad NITRO_SITE_TIMEOUT is the user's mistake (USAGE), not every site unreachable.
  siteTimeout();
  const configs = new SiteRegistry(ctx.repoDir).list().filter((c) => c.name !== store.config.site);
  return SiteSet.open(configs, siteOpener(ctx, o), (m) => ctx.info(`note: ${m}`));
}

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
      await withStore(ctx, async (store) => {
        const dest = o.site ?? store.config.site;
        if (dest !== store.config.site) new SiteRegistry(ctx.repoDir).get(dest);
        const opened = await openOtherSites(ctx, store, o);
        try {
          const { destHas, candidates } = planSites(store, opened, dest);
          const recipe = await resolveRecipe(store, image, opened.sites);
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
                `${image} -> ${dest}: ${prep.needIds.length} of ${prep.chunks} chunks to fetch (${formatBytes(prep.sizes.reduce((a, b) => a + b, 0))})`,
                planTable(prep.plan, prep.sources),
                ...(prep.plan.unassigned > 0
                  ? [`WARNING: ${prep.plan.unassigned} chunks are held by no reachable site`]
                  : []),
              ].join("\n"),
          );
        } finally {
          await opened.close();
        }
      });
    });

  planOptions(
    program
      .command("pull <image>")
      .description("rebuild an image at this site, fetching its missing chunks from several sites at once"),
  )
    .option("-o, --output <file>", "also write the image file (sparse, verified, atomic)")
    .option("--force", "overwrite the output file")
    .addHelpText("after", "\nExample:\n  nitro pull debian-12-lamp -o /var/lib/libvirt/images/lamp.qcow2\n")
    .action(async (image: string, o: PlanCliOptions & { output?: string; force?: boolean }, cmd: Command) => {
      const ctx = CliContext.of(cmd);
      const objective = objectiveOf(o);
      if (o.output) (await import("../../image/image-file.js")).checkOutputTarget(o.output, o.force ?? false);
      const { Matrix, describeSources, exportImage, pullChunks, resolveRecipe } = await load();
      await withStore(ctx, async (store) => {
        const here = store.config.site;
        if (o.site && o.site !== here)
          throw usage(
            `pull runs at the destination: this node is site '${here}', not '${o.site}'. Run it on ${o.site}'s node (for example: ssh ${o.site} nitro pull ${image}), or use 'nitro plan ${image} --site ${o.site}' to see the plan from here`,
          );
        const opened = await openOtherSites(ctx, store, o);
        try {
          const recipe = await resolveRecipe(store, image, opened.sites);
          const sources = describeSources(opened.opened, here, Matrix.load(ctx.repoDir), (m) =>
            ctx.info(`note: ${m}`),
          );
          const bars = multiBar(ctx);
          const barOf = new Map<string, ReturnType<typeof bars.bar>>();
          const report = await pullChunks(store, recipe, sources, {
            objective,
            strategy: o.strategy,
            lockWait: ctx.lockWait,
            onPlan: (p, srcs) => {
              ctx.info(planTable(p, srcs));
              srcs.forEach((s, i) => barOf.set(s.name, bars.bar(s.name.padEnd(10), p.bytesPerSite[i]!)));
            },
            onProgress: (s, bytes) => barOf.get(s)?.update(bytes),
            onEvent: (m) => ctx.info(`note: ${m}`),
          }).finally(() => bars.stop());
          if (o.output) await exportImage(store, recipe, o.output, { force: o.force });
          ctx.emit({ ...report, output: o.output ?? null }, () => describePull(report, o.output));
        } finally {
          await opened.close();
        }
      });
    });
}

function describePull(r: PullReport, output?: string): string {
  const rows = r.sources.map(
    (s) =>
      `${s.site.padEnd(12)} planned ${formatBytes(s.plannedBytes).padStart(10)} in ${formatSeconds(s.plannedSeconds).padStart(8)}  actual ${formatBytes(s.bytes).padStart(10)} in ${formatSeconds(s.seconds).padStart(8)} ${formatRate(s.bytes / Math.max(s.seconds, 1e-9)).padStart(10)}${s.stole ? `  took over ${s.stole} chunks` : ""}${s.failed ? `  FAILED: ${s.failed}` : ""}`,
  );
  return [
    `pulled ${r.image}: ${r.fetchedChunks} chunks (${formatBytes(r.fetchedBytes)}) fetched, ${r.present} already here`,
    ...rows,
    `predicted ${formatSeconds(r.predictedMakespan)} (lower bound ${formatSeconds(r.lowerBound)}), actual ${formatSeconds(r.seconds)}, egress $${r.cost.toFixed(4)}`,
    ...(output ? [`wrote ${output} (digest verified)`] : []),
  ].join("\n");
}
