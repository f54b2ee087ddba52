import type { FlowNet } from "./flow.js";

/**
 * Exact parametric searches over the horizon T on a FlowNet (chunks split freely).
 *
 * minHorizon is Newton's method on cuts: at a horizon T that is too short, the minimum cut says
 * which sites S the reached groups must go through; the smallest T at which S alone could carry
 * them is a lower bound on the answer and strictly above T. Each step lands on a new cut, so the
 * search ends after a handful of max-flows, exactly on the breakpoint (no tolerance on T).
 */

export interface SiteTimes {
  bw: Float64Array;
  rtt: Float64Array;
  /** Site indices sorted by rtt, for inverting the piecewise-linear capacity. */
  byRtt: number[];
}

export function siteTimes(bw: Float64Array, rtt: Float64Array): SiteTimes {
  const byRtt = Array.from(bw, (_, s) => s).sort((a, b) => rtt[a]! - rtt[b]!);
  return { bw, rtt, byRtt };
}

/** Smallest T with sum over sites in `mask` of bw * max(0, T - rtt) >= need (Infinity if none). */
export function horizonFor(need: number, mask: number, t: SiteTimes): number {
  if (need <= 0) return 0;
  let sumBw = 0;
  let sumBwRtt = 0;
  for (const s of t.byRtt) {
    if (((mask >>> s) & 1) === 0) continue;
    if (sumBw > 0) {
      const T = (need + sumBwRtt) / sumBw;
      if (T <= t.rtt[s]!) return T;
    }
    sumBw += t.bw[s]!;
    sumBwRtt += t.bw[s]! * t.rtt[s]!;
  }
  return sumBw > 0 ? (need + sumBwRtt) / sumBw : Infinity;
}

/**
 * Smallest T >= start at which the sites in `enabled` can carry `target` bytes, starting from
 * the net's current placement. Leaves the net holding that flow at T.
 */
export function minHorizon(
  net: FlowNet,
  t: SiteTimes,
  enabled: number,
  target: number,
  start: number,
): number {
  let T = start;
  const tol = net.eps * 8;
  for (let step = 0; step < 1000; step++) {
    net.setHorizon(T, enabled);
    if (net.maxflow() >= target - tol) return T;
    const cut = net.cut();
    const need = target - (net.total - cut.groupBytes);
    let next = horizonFor(need, cut.sites & enabled, t);
    if (next === Infinity) throw new Error(`planner: ${target} bytes cannot be carried by sites ${enabled}`);
    // Round-off can leave the Newton step on the spot; nudge so the loop always progresses.
    if (!(next > T)) next = T + Math.max(T * 1e-12, 1e-12);
    T = next;
  }
  throw new Error("planner: horizon search did not converge");
}

/** Fastest fractional makespan over all sites; leaves the net holding a max flow at it. */
export function fastest(net: FlowNet, t: SiteTimes, all: number): number {
  net.reset();
  return minHorizon(net, t, all, net.total, horizonFor(net.total, all, t));
}

/**
 * Among fractional plans finishing by `limit` (>= tStar), the cheapest; among those, the fastest.
 * Returns its makespan and leaves the net holding it. Expects the net to hold the flow left by
 * `fastest` or by an earlier call.
 *
 * Costs depend on the site only, so the loads that serve everything form a polymatroid and the
 * greedy is optimal: fill the cheapest tier of sites as much as the horizon allows, then the
 * next tier, and so on (incremental max-flow: a push only moves a site's excess, so what a site
 * carries never goes down).
 * A plan is that cheap iff every cheapest-tiers prefix carries what it carries at `limit`. So,
 * prefix after prefix, the horizon rises to the smallest at which the prefix carries that much
 * (a minHorizon search warm-started with the flow of the previous prefixes).
 */
export function cheapestWithin(
  net: FlowNet,
  t: SiteTimes,
  cost: Float64Array,
  all: number,
  tStar: number,
  limit: number,
): number {
  const tiers = costTiers(cost, all);
  if (tiers.length <= 1) {
    // One price: the fastest flow is the answer, unless an earlier call left another one.
    if (net.horizon !== tStar || net.value() < net.total - net.eps * 8) fastest(net, t, all);
    return tStar;
  }
  net.reset();
  const carried = tiers.map((mask) => {
    net.setHorizon(limit, mask);
    return net.maxflow();
  });
  net.reset();
  let T = tStar;
  tiers.forEach((mask, k) => (T = minHorizon(net, t, mask, carried[k]! - net.eps * 16, T)));
  return T;
}

/** Masks of the sites in `all` with cost <= each distinct cost, ascending. */
export function costTiers(cost: Float64Array, all: number): number[] {
  const distinct = [...new Set(Array.from(cost).filter((_, s) => ((all >>> s) & 1) === 1))].sort(
    (a, b) => a - b,
  );
  return distinct.map((c) => {
    let m = 0;
    for (let s = 0; s < cost.length; s++) if (((all >>> s) & 1) === 1 && cost[s]! <= c) m |= 1 << s;
    return m;
  });
}
