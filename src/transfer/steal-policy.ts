import type { Plan } from "../plan/types.js";

/** What a source taking over another's queued chunks would change. */
export interface StealCase {
  /** $ per GB of the source that would take them, and of the one they were planned for. */
  thiefPrice: number;
  victimPrice: number;
  /** When the planned source would be done with its queue, in seconds from the start of the pull. */
  victimFinish: number;
}

/**
 * Whether the chunks not yet asked for may be planned again at the rates measured: for the time
 * objective of the optimal strategy only (a baseline runs as itself; a cost plan stays cheapest).
 */
export function mayReplan(plan: Pick<Plan, "strategy" | "objective">): boolean {
  return plan.strategy === "optimal" && plan.objective.kind === "time";
}

/**
 * Whether stealing keeps the plan's objective. A baseline never steals: `--strategy X` runs X, so
 * that strategies can be compared. time: whenever the thief would finish the chunks first (the
 * caller checks that). cost: never at a higher price. deadline: at a higher price only when the
 * planned source would miss the deadline.
 */
export function maySteal(plan: Pick<Plan, "strategy" | "objective">, c: StealCase): boolean {
  if (plan.strategy !== "optimal") return false;
  const o = plan.objective;
  if (o.kind === "time" || c.thiefPrice <= c.victimPrice) return true;
  return o.kind === "deadline" && c.victimFinish > o.seconds;
}

/**
 * Whether chunks in flight at a slow source may be asked again of a faster one at the end of the
 * pull: the copies cost bytes (and egress), so for the time objective of the optimal strategy only.
 */
export function mayHedge(plan: Pick<Plan, "strategy" | "objective">): boolean {
  return mayReplan(plan);
}
