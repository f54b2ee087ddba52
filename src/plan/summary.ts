import type { Groups } from "./groups.js";
import type { Objective, Plan, Strategy } from "./types.js";

/**
 * The per-site figures, makespan and cost of an assignment: from `tally` (bytes and chunks per
 * site) when the caller kept it, else from one pass over the chunks.
 */
export function summarize(
  sizes: ArrayLike<number>,
  assignment: Uint8Array,
  groups: Groups,
  bw: Float64Array,
  rtt: Float64Array,
  price: Float64Array,
  extra: {
    strategy: Strategy;
    objective: Objective;
    lowerBound: number;
    fractional: Plan["fractional"];
    roundingBound: number;
  },
  tally?: { load: Float64Array; count: Float64Array },
): Plan {
  const n = bw.length;
  const bytes = tally?.load ?? new Float64Array(n);
  const chunks = tally?.count ?? new Float64Array(n);
  for (let i = 0; i < assignment.length && !tally; i++) {
    const s = assignment[i]!;
    if (s < n) {
      bytes[s]! += sizes[i]!;
      chunks[s]!++;
    }
  }
  const seconds = Array.from(bytes, (b, s) => (b > 0 ? rtt[s]! + b / bw[s]! : 0));
  const costPerSite = Array.from(bytes, (b, s) => (b * price[s]!) / 1e9);
  return {
    strategy: extra.strategy,
    objective: extra.objective,
    assignment,
    bytesPerSite: Array.from(bytes),
    chunksPerSite: Array.from(chunks),
    secondsPerSite: seconds,
    costPerSite,
    makespan: Math.max(0, ...seconds),
    lowerBound: extra.lowerBound,
    cost: costPerSite.reduce((a, b) => a + b, 0),
    unassigned: groups.unassigned,
    unassignedBytes: groups.unassignedBytes,
    fractional: extra.fractional,
    roundingBound: extra.roundingBound,
  };
}
