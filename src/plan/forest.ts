/**
 * Turns a group -> site flow into one whose support is a forest, with the same bytes per group
 * and per site (so the same makespan and cost: a cost depends on the site only, so pushing flow
 * around a cycle costs nothing). A forest has at most groups + sites - 1 edges, so at most
 * sites - 1 groups are split between several sites; the rounding bound rests on this.
 *
 * Edges are added one by one to a spanning forest; an edge closing a cycle pushes flow around
 * that cycle until some edge of it is empty, and that edge leaves. A group with a single edge
 * (nearly all of them) is on no cycle, so only the few split groups go through this.
 */
export interface GroupFlow {
  /** Sites of group g with positive flow: site[first[g] .. first[g + 1]). */
  first: Int32Array;
  site: Uint8Array;
  bytes: Float64Array;
}

export function toForest(
  groups: number,
  sites: number,
  edgeGroup: Int32Array,
  edgeSite: Uint8Array,
  edgeFlow: Float64Array,
): GroupFlow {
  const m = edgeFlow.length;
  const nodes = groups + sites;
  const root = new Int32Array(nodes);
  for (let v = 0; v < nodes; v++) root[v] = v;
  const find = (v: number): number => {
    while (root[v] !== v) v = root[v] = root[root[v]!]!;
    return v;
  };
  const adjacent: (number[] | undefined)[] = [];
  const adj = (v: number): number[] => (adjacent[v] ??= []);
  const alive = new Uint8Array(m);
  const degree = new Int32Array(groups);
  for (let e = 0; e < m; e++) if (edgeFlow[e]! > 0) degree[edgeGroup[e]!]!++;
  const ends = (e: number): [number, number] => [edgeGroup[e]!, groups + edgeSite[e]!];
  const parentEdge = new Int32Array(nodes);
  const seen = new Int32Array(nodes);
  let stamp = 0;

  // Tree path from node `from` to node `goal`, as edge ids (breadth-first over live edges).
  const path = (from: number, goal: number): number[] => {
    stamp++;
    const queue = [from];
    seen[from] = stamp;
    for (let q = 0; q < queue.length && seen[goal] !== stamp; q++) {
      const u = queue[q]!;
      for (const e of adj(u)) {
        if (!alive[e]) continue;
        const [g, s] = ends(e);
        const v = u === g ? s : g;
        if (seen[v] === stamp) continue;
        seen[v] = stamp;
        parentEdge[v] = e;
        queue.push(v);
      }
    }
    const edges: number[] = [];
    for (let v = goal; v !== from;) {
      const e = parentEdge[v]!;
      edges.push(e);
      const [g, s] = ends(e);
      v = v === g ? s : g;
    }
    return edges.reverse();
  };

  for (let e = 0; e < m; e++) {
    if (!(edgeFlow[e]! > 0)) continue;
    if (degree[edgeGroup[e]!] === 1) {
      alive[e] = 1;
      continue;
    }
    const [g, s] = ends(e);
    const rg = find(g);
    const rs = find(s);
    if (rg !== rs) {
      root[rg] = rs;
      alive[e] = 1;
      adj(g).push(e);
      adj(s).push(e);
      continue;
    }
    // Cycle g -> s (edge e, group to site: "up") then back along the tree from s to g. Walking
    // site -> group along an edge is "down". Moving d up everywhere up and down everywhere down
    // keeps every node's balance.
    const cycle = path(s, g);
    let minUp = edgeFlow[e]!;
    let argUp = e;
    let minDown = Infinity;
    let argDown = -1;
    cycle.forEach((c, k) => {
      // Along s -> ... -> g the path alternates site->group (down, k even) and group->site (up).
      if (k % 2 === 0) {
        if (edgeFlow[c]! < minDown) [minDown, argDown] = [edgeFlow[c]!, c];
      } else if (edgeFlow[c]! < minUp) [minUp, argUp] = [edgeFlow[c]!, c];
    });
    // Empty the smallest edge: decrease the side that holds it, increase the other.
    const d = Math.min(minUp, minDown);
    const sign = minUp <= minDown ? -1 : 1;
    edgeFlow[e]! += sign * d;
    cycle.forEach((c, k) => {
      edgeFlow[c]! += (k % 2 === 0 ? -sign : sign) * d;
    });
    const gone = minUp <= minDown ? argUp : argDown;
    edgeFlow[gone] = 0;
    if (gone !== e) {
      alive[gone] = 0;
      alive[e] = 1;
      adj(g).push(e);
      adj(s).push(e);
    }
  }

  const first = new Int32Array(groups + 1);
  for (let e = 0; e < m; e++) if (alive[e]) first[edgeGroup[e]! + 1]!++;
  for (let g = 0; g < groups; g++) first[g + 1]! += first[g]!;
  const fill = first.slice(0, groups);
  const site = new Uint8Array(first[groups]!);
  const bytes = new Float64Array(first[groups]!);
  for (let e = 0; e < m; e++) {
    if (!alive[e]) continue;
    const k = fill[edgeGroup[e]!]!++;
    site[k] = edgeSite[e]!;
    bytes[k] = edgeFlow[e]!;
  }
  return { first, site, bytes };
}
