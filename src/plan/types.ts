/** A source site as the planner sees it, relative to one destination. */
export interface PlanSite {
  name: string;
  /** Bytes per second from this site to the destination. 0 = unusable (the site sends nothing). */
  bandwidth: number;
  /** Egress price in $ per GB (1e9 bytes). */
  cost: number;
  /** Seconds before the first byte arrives (fixed start-up), 0 when omitted. */
  rtt?: number;
}

/**
 * The chunks the destination lacks, as parallel typed arrays (no object per chunk):
 * chunk i has `sizes[i]` bytes and bit s of `holders[i]` is set when `sites[s]` holds it.
 */
export interface PlanInput {
  /** At most 32 sites (holder sets are 32-bit masks). */
  sites: readonly PlanSite[];
  sizes: Uint32Array | Float64Array;
  holders: Uint32Array;
}

export type Objective = { kind: "time" } | { kind: "cost" } | { kind: "deadline"; seconds: number };

export type Strategy = "optimal" | "random" | "round-robin" | "fastest-source" | "single-site";

export const STRATEGIES: readonly Strategy[] = [
  "optimal",
  "random",
  "round-robin",
  "fastest-source",
  "single-site",
];

export interface PlanOptions {
  /** "optimal" (default) or a baseline for comparison; baselines ignore the objective. */
  strategy?: Strategy;
  /** Seed of the `random` strategy (default 1): same seed, same plan. */
  seed?: number;
  /** Time objective: cheapest plan within (1 + slack) of the fastest one (default 0.01). */
  slack?: number;
}

/** Assignment value of a chunk no usable site holds. */
export const NO_SITE = 255;

export interface Plan {
  strategy: Strategy;
  objective: Objective;
  /** Site index per chunk, NO_SITE when no usable site holds it. */
  assignment: Uint8Array;
  bytesPerSite: number[];
  chunksPerSite: number[];
  /** rtt + bytes / bandwidth, 0 for a site that sends nothing. */
  secondsPerSite: number[];
  costPerSite: number[];
  /** Predicted finish time of the slowest site, for this integral assignment. */
  makespan: number;
  /** Fractional optimum makespan (chunks split freely): no plan can finish earlier. */
  lowerBound: number;
  /** $ of egress for the whole plan. */
  cost: number;
  /** Chunks (and their bytes) that no usable site holds; they are left out of everything else. */
  unassigned: number;
  unassignedBytes: number;
  /**
   * Strategy "optimal" only: the fractional plan that was rounded, and the rounding guarantee
   * `makespan <= fractional.makespan + roundingBound` where roundingBound = max over sites of
   * (largest chunk the site may be given) / bandwidth.
   */
  fractional: { makespan: number; cost: number; bytesPerSite: number[] } | null;
  roundingBound: number;
}
