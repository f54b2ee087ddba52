/**
 * The chunk planner: which source site sends which chunk to the destination, so that the slowest
 * link finishes as early as possible and, among such plans, egress is cheapest. Pure: no I/O.
 *
 * 1. Group the chunks by the set of usable sites holding them (one pass, a hash on the mask).
 * 2. Fractional problem, exact, on the groups: the smallest horizon T at which the flow
 *    source -> group (group bytes) -> holder sites -> sink (bandwidth * max(0, T - rtt))
 *    carries every byte. Newton's method on minimum cuts over T, warm-started max-flows
 *    (fractional.ts), each a push-relabel on the sites (flow.ts): phases that depend on the
 *    sites (at most 32), each one pass over the groups; no chunk is visited.
 * 3. Cost. time: the cheapest plan within (1 + slack) * T*, then the fastest of those. cost: each
 *    chunk only from its cheapest holders (the cheapest possible plan), then the fastest of
 *    those. deadline: the cheapest plan finishing by the deadline, then the fastest of those;
 *    a usage error giving the fastest possible time when it cannot be met.
 * 4. The flow is made a forest (forest.ts) and rounded to whole chunks of any sizes (split.ts):
 *    every site ends at most one chunk above its fractional quota, so
 *      makespan <= fractional makespan + max over sites of (largest chunk it may get) / bandwidth
 *    (Plan.roundingBound). When that gap is material (> 0.1%) a local search moves chunks off
 *    the slowest site (polish.ts).
 * Baselines (strategy option): random (seeded), round-robin, fastest-source, single-site.
 */
import { Exit, NitroError, usage } from "../util/errors.js";
import { formatSeconds } from "../util/units.js";
import { baseline } from "./baselines.js";
import { FlowNet } from "./flow.js";
import { toForest, type GroupFlow } from "./forest.js";
import { cheapestWithin, fastest, siteTimes, type SiteTimes } from "./fractional.js";
import { groupChunks, type Groups } from "./groups.js";
import { polish } from "./polish.js";
import { makespanOf, splitChunks, type SiteModel } from "./split.js";
import { summarize } from "./summary.js";
import { NO_SITE, type Objective, type Plan, type PlanInput, type PlanOptions } from "./types.js";

/** Chunk visits the local search may spend: a few milliseconds. */
const POLISH_BUDGET = 2e6;
/**
 * Swaps (a search over pairs of chunks) only while rounding leaves more than this share of the
 * makespan: below it they bought ~0.1% for 35-65 ms of a pull's start (its planner code not yet
 * optimized), where the time objective's slack is 1% and a re-plan needs a 3% gain.
 */
const SWAP_GAP = 0.01;

export function plan(
  input: PlanInput,
  objective: Objective = { kind: "time" },
  options: PlanOptions = {},
): Plan {
  const { bw, rtt, price, usable } = validate(input, objective, options);
  const strategy = options.strategy ?? "optimal";
  const groups = groupChunks(input.sizes, input.holders, usable);
  const times = siteTimes(bw, rtt);
  const net = new FlowNet(groups.mask, groups.bytes, bw, rtt);
  const tStar = groups.count > 0 ? fastest(net, times, usable) : 0;
  const extra = { strategy, objective, lowerBound: tStar, fractional: null, roundingBound: 0 };
  if (strategy !== "optimal") {
    const assignment = baseline(strategy, groups, bw, rtt, price, options.seed ?? 1);
    return summarize(input.sizes, assignment, groups, bw, rtt, price, extra);
  }
  if (groups.count === 0)
    return summarize(
      input.sizes,
      new Uint8Array(input.sizes.length).fill(NO_SITE),
      groups,
      bw,
      rtt,
      price,
      extra,
    );

  const ctx: Context = { input, groups, net, times, bw, rtt, price, usable, tStar, objective };
  switch (objective.kind) {
    case "time":
      return withinHorizon(ctx, tStar * (1 + (options.slack ?? 0.01)));
    case "cost":
      return cheapest(ctx);
    case "deadline":
      return byDeadline(ctx, objective.seconds);
  }
}

interface Context {
  input: PlanInput;
  groups: Groups;
  net: FlowNet;
  times: SiteTimes;
  bw: Float64Array;
  rtt: Float64Array;
  price: Float64Array;
  usable: number;
  tStar: number;
  objective: Objective;
}

function withinHorizon(ctx: Context, limit: number, deadline?: number): Plan {
  cheapestWithin(ctx.net, ctx.times, ctx.price, ctx.usable, ctx.tStar, limit);
  return rounded(ctx, ctx.net, ctx.groups.mask, deadline);
}

/** Every group restricted to its cheapest holders: no plan costs less; then the fastest such. */
function cheapest(ctx: Context): Plan {
  const { groups, price } = ctx;
  const cheap = new Int32Array(groups.count);
  for (let g = 0; g < groups.count; g++) {
    let best = Infinity;
    let r = 0;
    for (let rest = groups.mask[g]!; rest !== 0; rest &= rest - 1) {
      const s = 31 - Math.clz32(rest & -rest);
      if (price[s]! < best) {
        best = price[s]!;
        r = 1 << s;
      } else if (price[s] === best) r |= 1 << s;
    }
    cheap[g] = r;
  }
  const net = new FlowNet(cheap, groups.bytes, ctx.bw, ctx.rtt);
  fastest(net, ctx.times, ctx.usable);
  return rounded(ctx, net, cheap, Infinity);
}

/**
 * The cheapest fractional plan meeting the deadline is rounded; should rounding overshoot, the
 * fractional deadline is tightened by the overshoot and, as a last resort, the fastest plan is
 * taken if it meets the deadline.
 */
function byDeadline(ctx: Context, deadline: number): Plan {
  let target = deadline;
  for (let attempt = 0; attempt < 3 && target >= ctx.tStar; attempt++) {
    const p = withinHorizon(ctx, target, deadline);
    if (p.makespan <= deadline) return p;
    target -= p.makespan - deadline;
  }
  const fastestPlan = withinHorizon(ctx, ctx.tStar, deadline);
  if (fastestPlan.makespan <= deadline) return fastestPlan;
  throw usage(
    `deadline ${formatSeconds(deadline)} cannot be met: the fastest plan takes ` +
      `${formatSeconds(fastestPlan.makespan)} (no plan can take less than ${formatSeconds(ctx.tStar)})`,
  );
}

/**
 * Rounds the net's current flow to whole chunks and summarizes. `allowed`: the holders each group
 * may use. `deadline`: the makespan to meet (Infinity: none, cost only); when undefined, the
 * fractional plan's makespan is the aim, met where rounding allows.
 */
function rounded(ctx: Context, net: FlowNet, allowed: Int32Array, deadline?: number): Plan {
  const { groups, input, bw, rtt, price } = ctx;
  const flow = forestOf(net);
  const model: SiteModel = { bw, rtt, price };
  const fracLoad = new Float64Array(bw.length);
  for (let k = 0; k < flow.site.length; k++) fracLoad[flow.site[k]!]! += flow.bytes[k]!;
  const fracMakespan = makespanOf(fracLoad, model);
  const fractional = {
    makespan: fracMakespan,
    cost: fracLoad.reduce((sum, b, s) => sum + (b * price[s]!) / 1e9, 0),
    bytesPerSite: Array.from(fracLoad),
  };
  const { assignment, load, count } = splitChunks(input.sizes, groups, flow, model, deadline ?? fracMakespan);
  const roundingBound = boundOf(flow, groups, bw);

  // Polish only down to the objective's own target: going faster would cost more.
  const hard = deadline !== undefined && deadline < Infinity;
  const target = hard ? deadline : fracMakespan;
  const makespan = makespanOf(load, model);
  if (makespan > target && (hard || makespan - target > 1e-3 * makespan)) {
    const work = { sizes: input.sizes, groupOf: groups.groupOf, allowed, site: assignment, load, count };
    polish(work, model, target, POLISH_BUDGET, hard ? target : target + SWAP_GAP * makespan);
  }
  const extra = {
    strategy: "optimal" as const,
    objective: ctx.objective,
    lowerBound: ctx.tStar,
    fractional,
    roundingBound,
  };
  return summarize(input.sizes, assignment, groups, bw, rtt, price, extra, { load, count });
}

/**
 * The net's flow made a forest. A group sent by one site is a leaf and on no cycle: only the
 * groups split between sites (few) go through toForest.
 */
function forestOf(net: FlowNet): GroupFlow {
  const { group, site, bytes } = net.edges();
  const G = net.groups;
  const edgesOf = new Int32Array(G);
  for (let e = 0; e < group.length; e++) edgesOf[group[e]!]!++;
  const splitIndex = new Int32Array(G).fill(-1);
  let split = 0;
  for (let g = 0; g < G; g++) if (edgesOf[g]! > 1) splitIndex[g] = split++;
  const inSplit: number[] = [];
  for (let e = 0; e < group.length; e++) if (splitIndex[group[e]!]! >= 0) inSplit.push(e);
  const sub = toForest(
    split,
    net.sites,
    Int32Array.from(inSplit, (e) => splitIndex[group[e]!]!),
    Uint8Array.from(inSplit, (e) => site[e]!),
    Float64Array.from(inSplit, (e) => bytes[e]!),
  );

  const first = new Int32Array(G + 1);
  for (let g = 0; g < G; g++) {
    const i = splitIndex[g]!;
    first[g + 1] = first[g]! + (i >= 0 ? sub.first[i + 1]! - sub.first[i]! : edgesOf[g]!);
  }
  const outSite = new Uint8Array(first[G]!);
  const outBytes = new Float64Array(first[G]!);
  for (let e = 0, g = 0; g < G; g++) {
    const i = splitIndex[g]!;
    if (i >= 0) {
      outSite.set(sub.site.subarray(sub.first[i]!, sub.first[i + 1]!), first[g]!);
      outBytes.set(sub.bytes.subarray(sub.first[i]!, sub.first[i + 1]!), first[g]!);
    } else if (edgesOf[g] === 1) {
      outSite[first[g]!] = site[e]!;
      outBytes[first[g]!] = bytes[e]!;
    }
    e += edgesOf[g]!;
  }
  return { first, site: outSite, bytes: outBytes };
}

/** max over sites of (largest chunk of a split group it takes part in) / bandwidth. */
function boundOf(flow: GroupFlow, groups: Groups, bw: Float64Array): number {
  let bound = 0;
  for (let g = 0; g < groups.count; g++) {
    if (flow.first[g + 1]! - flow.first[g]! < 2) continue;
    for (let k = flow.first[g]!; k < flow.first[g + 1]!; k++)
      bound = Math.max(bound, groups.maxSize[g]! / bw[flow.site[k]!]!);
  }
  return bound;
}

function validate(input: PlanInput, objective: Objective, options: PlanOptions) {
  const { sites, sizes, holders } = input;
  if (sites.length > 32) throw usage(`the planner handles at most 32 sites, got ${sites.length}`);
  if (sizes.length !== holders.length)
    throw new NitroError(Exit.INTERNAL, `planner: ${sizes.length} sizes but ${holders.length} holder sets`);
  const bad = (what: string, v: unknown) => usage(`site ${what}: ${String(v)} is not a valid value`);
  let usable = 0;
  sites.forEach((s, i) => {
    if (!(Number.isFinite(s.bandwidth) && s.bandwidth >= 0)) throw bad(`${s.name} bandwidth`, s.bandwidth);
    if (!(Number.isFinite(s.cost) && s.cost >= 0)) throw bad(`${s.name} cost`, s.cost);
    if (!(Number.isFinite(s.rtt ?? 0) && (s.rtt ?? 0) >= 0)) throw bad(`${s.name} rtt`, s.rtt);
    if (s.bandwidth > 0) usable |= 1 << i;
  });
  if (objective.kind === "deadline" && !(Number.isFinite(objective.seconds) && objective.seconds > 0))
    throw usage(`invalid deadline: ${objective.seconds} s`);
  if (options.slack !== undefined && !(Number.isFinite(options.slack) && options.slack >= 0))
    throw usage(`invalid slack: ${options.slack}`);
  return {
    bw: Float64Array.from(sites, (s) => s.bandwidth),
    rtt: Float64Array.from(sites, (s) => s.rtt ?? 0),
    price: Float64Array.from(sites, (s) => s.cost),
    usable,
  };
}
