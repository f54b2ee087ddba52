import type { GroupFlow } from "./forest.js";
import type { Groups } from "./groups.js";
import { NO_SITE } from "./types.js";

/**
 * Rounds a forest flow to whole chunks. Each group's bytes are laid end to end in chunk order and
 * cut at the cumulative quotas of its sites: a chunk inside one site's interval goes to that
 * site, so a site's whole chunks never exceed its quota. The few chunks straddling a cut are
 * "free" (each cut is straddled by at most one chunk, and a forest flow has at most sites - 1
 * cuts in all).
 *
 * Free chunks: cuts link the sites of a group into a path; over all groups these links form a
 * forest on the sites (a star per group becomes a path: still no cycle). Rooting every tree
 * makes each site the child of at most one cut; giving each free chunk to the child of one of
 * the cuts it straddles hands every site at most one extra chunk, hence the guarantee
 *   finish(site) <= fractional finish + (largest chunk it may get) / bandwidth.
 * A largest-first greedy over the group's sites is tried as well and kept when it is better.
 * "Better" is earliest finish, or with a deadline, cheapest among plans meeting it.
 */
export interface SiteModel {
  bw: Float64Array;
  rtt: Float64Array;
  /** $ per GB; only compared. */
  price: Float64Array;
}

export function finishTime(load: number, s: number, m: SiteModel): number {
  return load > 0 ? m.rtt[s]! + load / m.bw[s]! : 0;
}

export function makespanOf(load: Float64Array, m: SiteModel): number {
  let t = 0;
  for (let s = 0; s < load.length; s++) t = Math.max(t, finishTime(load[s]!, s, m));
  return t;
}

function quickest(mask: number, m: SiteModel): number {
  let best = -1;
  for (let s = 0; s < m.bw.length; s++) {
    if (((mask >>> s) & 1) === 0) continue;
    if (best < 0 || m.rtt[s]! < m.rtt[best]! || (m.rtt[s] === m.rtt[best] && m.bw[s]! > m.bw[best]!))
      best = s;
  }
  return best;
}

export function splitChunks(
  sizes: ArrayLike<number>,
  groups: Groups,
  flow: GroupFlow,
  model: SiteModel,
  deadline?: number,
): { assignment: Uint8Array; load: Float64Array; count: Float64Array } {
  const G = groups.count;
  const n = model.bw.length;
  const { first, site, bytes } = flow;
  // Cumulative quota at the end of each site's interval; the last site of a group takes the rest.
  const cum = new Float64Array(site.length);
  const single = new Int32Array(G).fill(-1);
  for (let g = 0; g < G; g++) {
    let c = 0;
    for (let k = first[g]!; k < first[g + 1]!; k++) cum[k] = c += bytes[k]!;
    if (first[g + 1]! - first[g]! === 1) single[g] = site[first[g]!]!;
    if (first[g + 1]! > first[g]!) cum[first[g + 1]! - 1] = Infinity;
    // A group the flow did not carry (zero bytes): its quickest-starting holder.
    else single[g] = quickest(groups.mask[g]!, model);
  }

  const assignment = new Uint8Array(groups.groupOf.length);
  const load = new Float64Array(n);
  const count = new Float64Array(n);
  const offset = new Float64Array(G);
  const at = first.slice(0, G); // index of the site interval the group's next chunk starts in
  const free: { chunk: number; group: number; from: number; to: number }[] = [];
  const { groupOf } = groups;
  for (let i = 0; i < groupOf.length; i++) {
    const g = groupOf[i]!;
    if (g < 0) {
      assignment[i] = NO_SITE;
      continue;
    }
    const size = sizes[i]!;
    const s1 = single[g]!;
    if (s1 >= 0) {
      assignment[i] = s1;
      load[s1]! += size;
      count[s1]!++;
      continue;
    }
    const a = offset[g]!;
    const b = a + size;
    offset[g] = b;
    let j = at[g]!;
    while (cum[j]! <= a) j++;
    at[g] = j;
    if (b <= cum[j]!) {
      assignment[i] = site[j]!;
      load[site[j]!]! += size;
      count[site[j]!]!++;
      continue;
    }
    let k = j;
    while (cum[k]! < b) k++;
    free.push({ chunk: i, group: g, from: j, to: k }); // straddles the cuts after intervals j..k-1
  }
  if (free.length > 0) placeFree(free, sizes, flow, model, assignment, load, deadline);
  for (const { chunk } of free) count[assignment[chunk]!]!++;
  return { assignment, load, count };
}

function placeFree(
  free: { chunk: number; group: number; from: number; to: number }[],
  sizes: ArrayLike<number>,
  flow: GroupFlow,
  model: SiteModel,
  assignment: Uint8Array,
  load: Float64Array,
  deadline: number | undefined,
): void {
  const child = cutChildren(flow, model);
  const better = preference(deadline);
  // The preferred site of `candidates` for a chunk of `size`, given the loads `l`.
  const pick = (l: Float64Array, candidates: Iterable<number>, size: number): number => {
    let best = -1;
    for (const s of candidates) {
      if (s < 0) continue;
      if (best < 0) best = s;
      else {
        const [t, b] = [finishTime(l[s]! + size, s, model), finishTime(l[best]! + size, best, model)];
        if (better(t, model.price[s]!, b, model.price[best]!)) best = s;
      }
    }
    return best;
  };

  // 1. Guaranteed: each free chunk to the child of one of its cuts (every site is the child of
  //    at most one cut).
  const byCut = load.slice();
  const cutChoice = free.map(({ chunk, from, to }) => {
    const c = pick(byCut, child.subarray(from, to), sizes[chunk]!);
    const s = c >= 0 ? c : flow.site[from]!; // every cut has a child in a forest: never taken
    byCut[s]! += sizes[chunk]!;
    return s;
  });

  // 2. Largest first, each to the preferred site of its group's flow.
  const greedy = load.slice();
  const order = free.map((_, k) => k).sort((x, y) => sizes[free[y]!.chunk]! - sizes[free[x]!.chunk]!);
  const greedyChoice = new Array<number>(free.length);
  for (const k of order) {
    const { chunk, group } = free[k]!;
    const s = pick(greedy, flow.site.subarray(flow.first[group]!, flow.first[group + 1]!), sizes[chunk]!);
    greedy[s]! += sizes[chunk]!;
    greedyChoice[k] = s;
  }

  const useGreedy = better(
    makespanOf(greedy, model),
    costOf(greedy, model),
    makespanOf(byCut, model),
    costOf(byCut, model),
  );
  const choice = useGreedy ? greedyChoice : cutChoice;
  free.forEach(({ chunk }, k) => (assignment[chunk] = choice[k]!));
  load.set(useGreedy ? greedy : byCut);
}

/**
 * Whether (time a, cost a) beats (time b, cost b): earliest first when there is no deadline,
 * otherwise cheapest among those meeting it (then earliest), and earliest when neither does.
 */
function preference(deadline: number | undefined) {
  return (ta: number, ca: number, tb: number, cb: number): boolean => {
    if (deadline !== undefined && (ta <= deadline || tb <= deadline)) {
      if (ta <= deadline !== tb <= deadline) return ta <= deadline;
      if (ca !== cb) return ca < cb;
      return ta < tb;
    }
    return ta < tb || (ta === tb && ca < cb);
  };
}

function costOf(load: Float64Array, model: SiteModel): number {
  let c = 0;
  for (let s = 0; s < load.length; s++) c += load[s]! * model.price[s]!;
  return c;
}

/**
 * Cut k of a group (between its k-th and next site interval) links those two sites. Roots each
 * tree of the resulting site forest at its slowest site (an extra chunk costs it the most time)
 * and returns, per cut, the endpoint farther from the root.
 */
function cutChildren(flow: GroupFlow, model: SiteModel): Int32Array {
  const n = model.bw.length;
  const { first, site } = flow;
  const adj: { to: number; cut: number }[][] = Array.from({ length: n }, () => []);
  for (let g = 0; g + 1 < first.length; g++) {
    for (let k = first[g]!; k + 1 < first[g + 1]!; k++) {
      adj[site[k]!]!.push({ to: site[k + 1]!, cut: k });
      adj[site[k + 1]!]!.push({ to: site[k]!, cut: k });
    }
  }
  const child = new Int32Array(site.length).fill(-1);
  const visited = new Uint8Array(n);
  const roots = Array.from({ length: n }, (_, s) => s).sort((a, b) => model.bw[a]! - model.bw[b]!);
  for (const r of roots) {
    if (visited[r] || adj[r]!.length === 0) continue;
    visited[r] = 1;
    const stack = [r];
    while (stack.length > 0) {
      const u = stack.pop()!;
      for (const { to, cut } of adj[u]!) {
        if (visited[to]) continue;
        visited[to] = 1;
        child[cut] = to;
        stack.push(to);
      }
    }
  }
  return child;
}
