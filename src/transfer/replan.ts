import { plan as makePlan } from "../plan/plan.js";
import type { PlanSite } from "../plan/types.js";

/** A source as a pull measures it while running. */
export interface SourceNow {
  name: string;
  cost: number;
  /** Bytes per second measured so far (0: dropped, it gets nothing). */
  rate: number;
  /** Seconds before it is free for more: what it has in flight at that rate. */
  busy: number;
}

export interface Replanned {
  queues: number[][];
  /** Chunks, and their bytes, now queued at another source than before. */
  moved: number;
  movedBytes: number;
  /** Predicted seconds to finish: with the queues as they were, and as they are now. */
  before: number;
  after: number;
}

/** A new plan is taken only if it is predicted to finish this much sooner (no churn for noise). */
const MIN_GAIN = 0.03;

/**
 * The chunks still queued (not yet asked for), planned again over the rates measured so far: the
 * links rarely run at the speeds the matrix gave, and a source that falls behind would finish
 * last while others idle. Undefined when the new plan would not finish at least 3% sooner.
 * `sizes` and `holders` are per chunk (holder bit s = source s); queues keep chunk order, so that
 * a frame's chunks stay together.
 */
export function replanQueues(
  queues: readonly (readonly number[])[],
  sizes: ArrayLike<number>,
  holders: ArrayLike<number>,
  sources: readonly SourceNow[],
): Replanned | undefined {
  if (queues.every((q) => q.length === 0)) return undefined;
  const finish = (bytes: number, s: number) => {
    const src = sources[s]!;
    return bytes === 0 ? 0 : src.rate > 0 ? src.busy + bytes / src.rate : Infinity;
  };
  const queued = queues.map((q) => sum(q, sizes));
  const before = Math.max(...queued.map(finish));
  // Most checks find the queues on course: no plan could then gain enough, and none is made.
  const total = queued.reduce((a, b) => a + b, 0);
  if (earliestFinish(total, sources) >= before * (1 - MIN_GAIN)) return undefined;
  const remaining = Uint32Array.from(queues.flat()).sort();
  const usable = sources.reduce((m, src, s) => (src.rate > 0 ? m | (1 << s) : m), 0);
  const sites: PlanSite[] = sources.map((src) => ({
    name: src.name,
    cost: src.cost,
    bandwidth: src.rate,
    rtt: src.busy,
  }));
  const p = makePlan(
    {
      sites,
      sizes: Float64Array.from(remaining, (k) => sizes[k]!),
      holders: Uint32Array.from(remaining, (k) => holders[k]! & usable),
    },
    { kind: "time" },
  );
  if (p.unassigned > 0 || !(p.makespan < before * (1 - MIN_GAIN))) return undefined;
  const target = new Map<number, Float64Array>(); // per holder set: the new plan's bytes per source
  remaining.forEach((k, i) => {
    const mask = holders[k]! & usable;
    const t = target.get(mask) ?? target.set(mask, new Float64Array(sources.length)).get(mask)!;
    t[p.assignment[i]!]! += sizes[k]!;
  });
  // The new plan's amounts, with as few chunks moved as they allow: each source keeps its own
  // chunks of a holder set up to its new amount; the rest go to the sources short of theirs.
  const next: number[][] = sources.map(() => []);
  const spare = new Map<number, number[]>();
  queues.forEach((q, s) =>
    q.forEach((k) => {
      const mask = holders[k]! & usable;
      const t = target.get(mask)!;
      if (t[s]! >= sizes[k]! / 2) {
        t[s]! -= sizes[k]!;
        next[s]!.push(k);
      } else (spare.get(mask) ?? spare.set(mask, []).get(mask)!).push(k);
    }),
  );
  let moved = 0;
  let movedBytes = 0;
  for (const [mask, ks] of spare) {
    const t = target.get(mask)!;
    for (const k of ks) {
      let s = -1; // the holder furthest short of its amount
      for (let o = 0; o < sources.length; o++)
        if (((mask >>> o) & 1) === 1 && (s < 0 || t[o]! > t[s]!)) s = o;
      t[s]! -= sizes[k]!;
      next[s]!.push(k);
      moved++;
      movedBytes += sizes[k]!;
    }
  }
  for (const q of next) q.sort((a, b) => a - b);
  return { queues: next, moved, movedBytes, before, after: p.makespan };
}

/**
 * When `bytes` could be done at the soonest, spread over every source with a rate as if any
 * held any chunk: each sends from the moment it is free (`busy`) until the common finish. No
 * plan, whose sources hold only some chunks, finishes sooner.
 */
export function earliestFinish(bytes: number, sources: readonly SourceNow[]): number {
  const live = sources.filter((s) => s.rate > 0).sort((a, b) => a.busy - b.busy);
  if (live.length === 0) return bytes > 0 ? Infinity : 0;
  let rate = 0;
  let sent = 0; // bytes the sources free so far send by the next one's start
  for (let i = 0; i < live.length; i++) {
    rate += live[i]!.rate;
    const next = i + 1 < live.length ? live[i + 1]!.busy : Infinity;
    const at = live[i]!.busy + (bytes - sent) / rate;
    if (at <= next) return at;
    sent += rate * (next - live[i]!.busy);
  }
  return Infinity; // not reached: the last source's next start is Infinity
}

function sum(ks: readonly number[], sizes: ArrayLike<number>): number {
  let n = 0;
  for (const k of ks) n += sizes[k]!;
  return n;
}
