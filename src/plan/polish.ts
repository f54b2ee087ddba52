import { finishTime, makespanOf, type SiteModel } from "./split.js";

/**
 * Local search after rounding: while the makespan is above `target`, take the change involving
 * the slowest site that lowers max(its finish, the other site's finish) the most, if that is
 * below the slowest finish: first moving one of its chunks elsewhere, else (on small instances,
 * where it is affordable and rounding gaps are large) swapping one of its chunks for a smaller
 * one of another site, while the makespan is above `swapAbove`. Never raises the makespan. Stops
 * when `budget` chunk (or chunk pair) visits are spent; it is only worth running when rounding
 * left a material gap.
 */
export interface Assignment {
  sizes: ArrayLike<number>;
  groupOf: Int32Array;
  /** Holders each group may use. */
  allowed: Int32Array;
  site: Uint8Array;
  load: Float64Array;
  /** Chunks per site. */
  count: Float64Array;
}

export function polish(
  a: Assignment,
  model: SiteModel,
  target: number,
  budget: number,
  swapAbove = target,
): void {
  const { site, load, count } = a;
  while (budget > 0) {
    const makespan = makespanOf(load, model);
    if (makespan <= target) return;
    let slow = 0;
    for (let s = 1; s < load.length; s++)
      if (finishTime(load[s]!, s, model) > finishTime(load[slow]!, slow, model)) slow = s;
    const limit = makespan * (1 - 1e-12);
    const move = bestMove(a, model, slow, limit);
    budget -= site.length;
    if (move.chunk >= 0) {
      const size = a.sizes[move.chunk]!;
      load[slow]! -= size;
      load[move.to]! += size;
      count[slow]!--;
      count[move.to]!++;
      site[move.chunk] = move.to;
      continue;
    }
    if (makespan <= swapAbove) return;
    const swap = bestSwap(a, model, slow, limit, budget);
    budget -= swap.visits;
    if (swap.mine < 0) return;
    const delta = a.sizes[swap.mine]! - a.sizes[swap.theirs]!;
    const other = site[swap.theirs]!;
    load[slow]! -= delta;
    load[other]! += delta;
    site[swap.mine] = other;
    site[swap.theirs] = slow;
  }
}

function bestMove(a: Assignment, model: SiteModel, slow: number, limit: number) {
  const { sizes, groupOf, allowed, site, load } = a;
  let best = limit;
  let chunk = -1;
  let to = -1;
  const others = ~(1 << slow);
  for (let i = 0; i < site.length; i++) {
    if (site[i] !== slow) continue;
    let m = allowed[groupOf[i]!]! & others;
    if (m === 0) continue;
    const size = sizes[i]!;
    const left = finishTime(load[slow]! - size, slow, model);
    if (left >= best) continue;
    while (m !== 0) {
      const t = 31 - Math.clz32(m & -m);
      m &= m - 1;
      const v = Math.max(left, finishTime(load[t]! + size, t, model));
      if (v < best) [best, chunk, to] = [v, i, t];
    }
  }
  return { chunk, to };
}

function bestSwap(a: Assignment, model: SiteModel, slow: number, limit: number, budget: number) {
  const { sizes, groupOf, allowed, site, load } = a;
  const mineList: number[] = [];
  for (let i = 0; i < site.length; i++)
    if (site[i] === slow && allowed[groupOf[i]!]! !== 1 << slow) mineList.push(i);
  let best = limit;
  let mine = -1;
  let theirs = -1;
  const visits = mineList.length * site.length;
  if (visits > budget) return { mine, theirs, visits: 0 };
  for (let j = 0; j < site.length; j++) {
    const t = site[j]!;
    if (t === slow || t >= load.length || ((allowed[groupOf[j]!]! >>> slow) & 1) === 0) continue;
    for (const i of mineList) {
      const delta = sizes[i]! - sizes[j]!;
      if (delta <= 0 || ((allowed[groupOf[i]!]! >>> t) & 1) === 0) continue;
      const v = Math.max(
        finishTime(load[slow]! - delta, slow, model),
        finishTime(load[t]! + delta, t, model),
      );
      if (v < best) [best, mine, theirs] = [v, i, j];
    }
  }
  return { mine, theirs, visits };
}
