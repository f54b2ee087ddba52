/**
 * Planner runtime and plan quality: 2-10 sites x 10k, 100k, 1M chunks; then arbitrary holder
 * sets, 10 sites x 10k and 16, 20, 32 sites x 1M chunks.
 * Run: npx vite-node bench/planner.ts [--quick] [--random-only]   (vite-node ships with vitest)
 *
 * Instances: chunk sizes uniform in 16-256 KiB; chunks come in runs (files, layers) of 1-2000
 * chunks sharing one holder set: base-system runs held by most sites, variant runs by some,
 * unique runs by few (at least two holders each). Sites: 10 Mbit/s-1 Gbit/s (log-uniform),
 * rtt 5-150 ms, egress $0-0.09/GB. Time = median of repeated runs after a warm-up.
 */
import { groupChunks } from "../src/plan/groups.js";
import { mulberry32 } from "../src/plan/baselines.js";
import { plan } from "../src/plan/plan.js";
import type { Objective, PlanInput, PlanSite, Strategy } from "../src/plan/types.js";
import { NitroError } from "../src/util/errors.js";
import { hallOptimumBySubsetSums } from "../test/plan/helpers.js";

function instance(siteCount: number, chunks: number, seed: number): PlanInput {
  const r = mulberry32(seed);
  const sites: PlanSite[] = Array.from({ length: siteCount }, (_, s) => ({
    name: `site${s}`,
    bandwidth: (10e6 * Math.pow(100, r())) / 8,
    cost: Math.round(r() * 9) / 100,
    rtt: 0.005 + 0.145 * r(),
  }));
  const sizes = new Uint32Array(chunks);
  const holders = new Uint32Array(chunks);
  for (let i = 0; i < chunks;) {
    const run = Math.min(chunks - i, 1 + Math.floor(r() * 2000));
    const kind = r();
    const p = kind < 0.4 ? 0.8 : kind < 0.8 ? 0.4 : 0.15;
    let mask = 0;
    for (let s = 0; s < siteCount; s++) if (r() < p) mask |= 1 << s;
    // Replication factor at least 2: every run was pushed to two sites or more.
    while ((mask & (mask - 1)) === 0) mask |= 1 << Math.floor(r() * siteCount);
    for (let k = 0; k < run; k++, i++) {
      sizes[i] = (16 << 10) + Math.floor(r() * (240 << 10));
      holders[i] = mask;
    }
  }
  return { sites, sizes, holders };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timed(input: PlanInput, objective: Objective, runs: number, warmups = 2): number {
  for (let k = 0; k < warmups; k++) plan(input, objective);
  const times: number[] = [];
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    plan(input, objective);
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** A fixed 1M-element typed-array pass: tells how loaded the machine was during the run. */
function calibration(): number {
  const a = new Uint32Array(1_000_000).map((_, i) => i * 2654435761);
  const times: number[] = [];
  for (let k = 0; k < 9; k++) {
    const t0 = performance.now();
    const sums = new Float64Array(16);
    for (let i = 0; i < a.length; i++) sums[a[i]! & 15]! += a[i]!;
    times.push(performance.now() - t0);
  }
  return median(times);
}

const quick = process.argv.includes("--quick");
const randomOnly = process.argv.includes("--random-only");
const siteCounts = [2, 4, 6, 8, 10];
const chunkCounts = quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000];
const baselines: Strategy[] = ["random", "round-robin", "fastest-source", "single-site"];
const pad = (v: string | number, w: number) => String(v).padStart(w);
const row = (cells: (string | number)[], widths: number[]) =>
  cells.map((c, k) => pad(c, widths[k]!)).join(" ");
const widths = [5, 9, 6, 8, 8, 8, 8, 6, 8, 11, 14, 11];

console.log("Planner runtime (median wall ms) and makespan / fractional lower bound");
console.log(
  "Reference: Nitro (CCGrid 2018) planner, 10 sites x 10k chunks: 8000 ms. Target: <= 100 ms for 10 x 1M.",
);
console.log(`Machine check: one pass over 1M typed-array elements: ${calibration().toFixed(2)} ms`);
const header = ["sites", "chunks", "groups", "time ms", "cost ms", "fastest", "time", "$", "random"];
console.log(row([...header, "round-robin", "fastest-source", "single-site"], widths));
for (const chunks of randomOnly ? [] : chunkCounts) {
  for (const sites of siteCounts) {
    const input = instance(sites, chunks, sites * 1000 + chunks);
    const runs = chunks >= 1_000_000 ? 7 : 11;
    const ms = timed(input, { kind: "time" }, runs);
    const costMs = timed(input, { kind: "cost" }, runs);
    const fastest = plan(input, { kind: "time" }, { slack: 0 });
    const best = plan(input);
    const groups = groupChunks(input.sizes, input.holders, (2 ** sites - 1) | 0).count;
    const ratio = (p: { makespan: number }) => (p.makespan / best.lowerBound).toFixed(4);
    const others = baselines.map((strategy) => {
      try {
        return ratio(plan(input, { kind: "time" }, { strategy }));
      } catch (e) {
        if (e instanceof NitroError) return "none";
        throw e;
      }
    });
    const cells = [
      sites,
      chunks,
      groups,
      ms.toFixed(1),
      costMs.toFixed(1),
      ratio(fastest),
      ratio(best),
      (best.cost / fastest.cost).toFixed(2),
      ...others,
    ];
    console.log(row(cells, widths));
  }
}
console.log("time ms / cost ms: planning with the time objective (default) / the cost objective.");
console.log("fastest: time objective with slack 0 (pure rounding loss); time: default objective, cheapest");
console.log("within 1% of the fastest; $: its egress cost relative to the fastest plan's. Baselines");
console.log("likewise (makespan / lower bound); single-site 'none': no site holds every chunk.");

// Arbitrary holder sets: every chunk an independent random set, so distinct sets approach
// min(chunks, 2^sites). The bound is checked against the Hall-type optimum the tests use (its
// subset-sum form), where 2^sites allows.
console.log(
  "\nRandom holder sets (independent per chunk); Nitro (CCGrid 2018): 10 sites x 10k chunks, 8000 ms",
);
console.log(row(["sites", "chunks", "sets", "time ms", "cost ms", "bound check"], [5, 9, 8, 8, 8, 26]));
const randomRows: [number, number][] = quick
  ? [
      [10, 10_000],
      [16, 1_000_000],
    ]
  : [
      [10, 10_000],
      [16, 1_000_000],
      [20, 1_000_000],
      [32, 1_000_000],
    ];
for (const [sites, chunks] of randomRows) {
  const input = instance(sites, chunks, sites);
  const r = mulberry32(sites);
  input.holders.forEach((_, i) => (input.holders[i] = (1 + Math.floor(r() * (2 ** sites - 1))) >>> 0));
  const groups = groupChunks(input.sizes, input.holders, (2 ** sites - 1) | 0).count;
  const ms = timed(input, { kind: "time" }, 3, 1);
  const costMs = timed(input, { kind: "cost" }, 3, 1);
  let check = "n/a (2^sites sets)";
  if (sites <= 20) {
    const bound = plan(input).lowerBound;
    const hall = hallOptimumBySubsetSums(input);
    check = `|lb/hall - 1| = ${Math.abs(bound / hall - 1).toExponential(1)}`;
  }
  console.log(row([sites, chunks, groups, ms.toFixed(1), costMs.toFixed(1), check], [5, 9, 8, 8, 8, 26]));
}
