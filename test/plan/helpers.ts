import type { PlanInput, PlanSite } from "../../src/plan/types.js";

/**
 * Random planner instances and checks computed independently of the planner: by enumerating
 * site subsets (Hall-type conditions, min-cut formulas) and by brute force over assignments.
 */

export function rng(seed: number): () => number {
  // xorshift32: deliberately not the planner's own generator. The seed is scrambled and the
  // first outputs dropped, or small seeds would start with tiny numbers.
  let x = Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
  for (let k = 0; k < 8; k++) next();
  return next;
}

export interface InstanceShape {
  sites: number;
  chunks: number;
  minSize?: number;
  maxSize?: number;
  rtt?: boolean;
  costs?: boolean;
  /** Probability that a chunk has no holder at all. */
  orphans?: number;
}

export function randomInstance(seed: number, shape: InstanceShape): PlanInput {
  const r = rng(seed);
  const { minSize = 16 << 10, maxSize = 256 << 10 } = shape;
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const sites: PlanSite[] = Array.from({ length: shape.sites }, (_, s) => ({
    name: `s${s}`,
    bandwidth: int(1, 100) * 1e6,
    cost: shape.costs ? int(0, 9) / 100 : 0,
    rtt: shape.rtt ? int(0, 200) / 1000 : 0,
  }));
  const coverage = sites.map(() => 0.15 + 0.75 * r());
  const sizes = new Float64Array(shape.chunks);
  const holders = new Uint32Array(shape.chunks);
  for (let i = 0; i < shape.chunks; i++) {
    sizes[i] = int(minSize, maxSize);
    if (r() < (shape.orphans ?? 0)) continue;
    let m = 0;
    coverage.forEach((p, s) => {
      if (r() < p) m |= 1 << s;
    });
    holders[i] = m === 0 ? 1 << int(0, shape.sites - 1) : m >>> 0;
  }
  return { sites, sizes, holders };
}

const usableMask = (input: PlanInput) =>
  input.sites.reduce((m, s, i) => (s.bandwidth > 0 ? m | (1 << i) : m), 0) >>> 0;

/** Bytes a set of sites can send by time T. */
function capacity(input: PlanInput, set: number, T: number): number {
  let c = 0;
  input.sites.forEach((s, i) => {
    if ((set >>> i) & 1) c += s.bandwidth * Math.max(0, T - (s.rtt ?? 0));
  });
  return c;
}

/** Smallest T with capacity(set, T) >= bytes, by bisection. */
function timeToSend(input: PlanInput, set: number, bytes: number): number {
  if (bytes <= 0) return 0;
  let lo = 0;
  let hi = 1;
  while (capacity(input, set, hi) < bytes) hi *= 2;
  for (let k = 0; k < 200 && hi - lo > hi * 1e-15; k++) {
    const mid = (lo + hi) / 2;
    if (capacity(input, set, mid) >= bytes) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * Exact fractional optimum: T* = max over site sets S of the time S needs to send the chunks that
 * only sites of S hold (Hall's condition on the transportation problem).
 */
export function hallOptimum(input: PlanInput): number {
  const usable = usableMask(input);
  const n = input.sites.length;
  let best = 0;
  for (let S = 1; S < 1 << n; S++) {
    if ((S & usable) !== S) continue;
    let bytes = 0;
    for (let i = 0; i < input.sizes.length; i++) {
      const m = input.holders[i]! & usable;
      if (m !== 0 && (m & ~S) === 0) bytes += input.sizes[i]!;
    }
    best = Math.max(best, timeToSend(input, S, bytes));
  }
  return best;
}

/**
 * Cheapest fractional plan finishing by T ($): greedy over sites by price on the polymatroid of
 * loads; h(P) = what the set P can carry by T, by its min-cut formula
 * h(P) = min over W in P of [capacity(W) + bytes of chunks held by some site of P \ W].
 */
export function cheapestFractionalCost(input: PlanInput, T: number): number {
  const usable = usableMask(input);
  const order = input.sites.map((_, i) => i).filter((i) => (usable >>> i) & 1);
  order.sort((a, b) => input.sites[a]!.cost - input.sites[b]!.cost);
  const carry = (P: number) => {
    let best = Infinity;
    for (let W = P; ; W = (W - 1) & P) {
      let v = capacity(input, W, T);
      const rest = P & ~W;
      for (let i = 0; i < input.sizes.length; i++) if (input.holders[i]! & rest) v += input.sizes[i]!;
      best = Math.min(best, v);
      if (W === 0) break;
    }
    return best;
  };
  let cost = 0;
  let P = 0;
  let before = 0;
  for (const s of order) {
    P |= 1 << s;
    const now = carry(P);
    cost += ((now - before) * input.sites[s]!.cost) / 1e9;
    before = now;
  }
  return cost;
}

/** Smallest integral makespan over every assignment (branch and bound; tiny instances only). */
export function bruteForceOptimum(input: PlanInput): number {
  const n = input.sites.length;
  const N = input.sizes.length;
  const load = new Float64Array(n);
  const finish = (s: number, l: number) =>
    l > 0 ? (input.sites[s]!.rtt ?? 0) + l / input.sites[s]!.bandwidth : 0;
  let best = Infinity;
  const go = (i: number, current: number) => {
    if (current >= best) return;
    if (i === N) {
      best = current;
      return;
    }
    const m = input.holders[i]!;
    let any = false;
    for (let s = 0; s < n; s++) {
      if (!((m >>> s) & 1) || !(input.sites[s]!.bandwidth > 0)) continue;
      any = true;
      load[s]! += input.sizes[i]!;
      go(i + 1, Math.max(current, finish(s, load[s]!)));
      load[s]! -= input.sizes[i]!;
    }
    if (!any) go(i + 1, current);
  };
  go(0, 0);
  return best;
}

/** Makespan and cost of an assignment, recomputed; throws if a chunk goes to a non-holder. */
export function evaluate(input: PlanInput, assignment: Uint8Array): { makespan: number; cost: number } {
  const load = new Float64Array(input.sites.length);
  for (let i = 0; i < assignment.length; i++) {
    const s = assignment[i]!;
    if (s === 255) {
      if (input.holders[i]! & usableMask(input)) throw new Error(`chunk ${i} has a holder but no site`);
      continue;
    }
    if (!((input.holders[i]! >>> s) & 1)) throw new Error(`chunk ${i} sent by site ${s} that lacks it`);
    if (!(input.sites[s]!.bandwidth > 0)) throw new Error(`chunk ${i} sent by unusable site ${s}`);
    load[s]! += input.sizes[i]!;
  }
  let makespan = 0;
  let cost = 0;
  input.sites.forEach((site, s) => {
    if (load[s]! > 0) makespan = Math.max(makespan, (site.rtt ?? 0) + load[s]! / site.bandwidth);
    cost += (load[s]! * site.cost) / 1e9;
  });
  return { makespan, cost };
}

/** Largest chunk size over bandwidth, over all sites: the most rounding may add to a makespan. */
export function oneChunkTime(input: PlanInput): number {
  let worst = 0;
  input.sites.forEach((site, s) => {
    for (let i = 0; i < input.sizes.length; i++)
      if ((input.holders[i]! >>> s) & 1 && site.bandwidth > 0)
        worst = Math.max(worst, input.sizes[i]! / site.bandwidth);
  });
  return worst;
}

export const close = (a: number, b: number, rel = 1e-9) =>
  Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));

/**
 * hallOptimum for many chunks and up to ~22 sites: the bytes held only within each site set S
 * come from one sum-over-subsets pass (2^sites x sites) instead of a pass over the chunks per
 * set, and a set is bisected only when it needs longer than the best found so far.
 */
export function hallOptimumBySubsetSums(input: PlanInput): number {
  const usable = usableMask(input);
  const n = input.sites.length;
  const within = new Float64Array(1 << n);
  for (let i = 0; i < input.sizes.length; i++) {
    const m = input.holders[i]! & usable;
    if (m !== 0) within[m]! += input.sizes[i]!;
  }
  for (let s = 0; s < n; s++)
    for (let S = 0; S < 1 << n; S++) if ((S >>> s) & 1) within[S]! += within[S ^ (1 << s)]!;
  let best = 0;
  for (let S = 1; S < 1 << n; S++) {
    if ((S & usable) !== S || within[S]! <= 0) continue;
    if (capacity(input, S, best) >= within[S]!) continue;
    best = Math.max(best, timeToSend(input, S, within[S]!));
  }
  return best;
}
