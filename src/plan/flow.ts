/**
 * The transportation network source -> group (capacity: group bytes) -> site (every holder,
 * unbounded) -> sink (capacity: what the site can send within the horizon T, i.e.
 * bandwidth * max(0, T - rtt)), solved from the sites' side: the work per phase is at most
 * linear in the groups, and the phases are those of a push-relabel on at most 32 nodes (a
 * handful per max-flow when measured: 16-32 sites x 1M groups).
 *
 * Every group's bytes are always placed on its holders, as "pieces" (group, site, bytes); a site
 * placed above its capacity holds the excess. Moving bytes of a group from site s to another
 * holder t is a residual path s -> group -> t, so the sites form a small residual graph: s -> t
 * when a piece on s belongs to a group that t holds. Push-relabel on that graph: each phase
 * labels every site with its distance to a site with spare capacity (one pass over the pieces
 * and a breadth-first search over at most 32 sites), then pushes every excess one level down,
 * highest level first, no more than the sites below may take (budgets). The flow is maximum when no site with excess reaches spare capacity;
 * its value is the total minus the remaining excess.
 *
 * Any placement is a valid start, so the searches over the horizon warm-start for free. The
 * sites' lists of pieces are kept up to date as pieces move: a phase costs one pass for the
 * residual site graph and the pieces it scans.
 */
export class FlowNet {
  readonly groups: number;
  readonly sites: number;
  /** Sum of group bytes: the flow value that serves every chunk. */
  readonly total: number;
  /** Residual amounts below this are zero (float round-off of sums of byte counts). */
  readonly eps: number;
  /** The last horizon set. */
  horizon = 0;

  private readonly mask: Int32Array;
  private readonly bw: Float64Array;
  private readonly rtt: Float64Array;
  private readonly capacity: Float64Array;
  private readonly loads: Float64Array;
  /** Per site, its distance to spare capacity at the last phase (-1: none). */
  private readonly level: Int32Array;
  /** Pieces on each site; entries of pieces that moved away are dropped lazily. */
  private readonly onSite: number[][];
  private readonly stale: Int32Array;
  private pieceGroup: Int32Array;
  private pieceSite: Uint8Array;
  private pieceBytes: Float64Array;
  private pieces = 0;
  /** Pieces moved since the loads were last summed afresh. */
  private moved = false;
  /** Per site, the sites holding a group of one of its pieces; stale once pieces move. */
  private readonly reach: Int32Array;
  private reachStale = true;

  constructor(groupMask: Int32Array, groupBytes: Float64Array, bw: Float64Array, rtt: Float64Array) {
    const G = groupMask.length;
    const n = bw.length;
    this.groups = G;
    this.sites = n;
    this.mask = groupMask;
    this.bw = bw;
    this.rtt = rtt;
    let total = 0;
    for (let g = 0; g < G; g++) total += groupBytes[g]!;
    this.total = total;
    this.eps = total * 1e-13 + 1e-9;
    this.capacity = new Float64Array(n);
    this.loads = new Float64Array(n);
    this.level = new Int32Array(n);
    this.reach = new Int32Array(n);
    this.onSite = Array.from({ length: n }, () => []);
    this.stale = new Int32Array(n);
    const room = G + 64;
    this.pieceGroup = new Int32Array(room);
    this.pieceSite = new Uint8Array(room);
    this.pieceBytes = new Float64Array(room);
    this.place(groupBytes);
  }

  /** Every capacity becomes 0 until the next setHorizon (the placement stays: any is valid). */
  reset(): void {
    this.capacity.fill(0);
  }

  /** Site s may send bw * max(0, T - rtt) bytes when bit s of `enabled` is set, nothing otherwise. */
  setHorizon(T: number, enabled: number): void {
    this.horizon = T;
    for (let s = 0; s < this.sites; s++)
      this.capacity[s] = ((enabled >>> s) & 1) === 1 ? this.bw[s]! * Math.max(0, T - this.rtt[s]!) : 0;
  }

  /** Moves bytes until the flow is maximum; returns its value. */
  maxflow(): number {
    if (this.moved) this.recount();
    for (let phase = 0; phase < 100_000; phase++) if (!this.phase()) return this.value();
    throw new Error("planner: max-flow did not converge");
  }

  /** Bytes carried: what every site holds, up to its capacity. */
  value(): number {
    let v = 0;
    for (let s = 0; s < this.sites; s++) v += Math.min(this.loads[s]!, this.capacity[s]!);
    return v;
  }

  /** Bytes site s sends in the current flow. */
  load(s: number): number {
    return Math.min(this.loads[s]!, this.capacity[s]!);
  }

  /**
   * After maxflow: a minimum cut. The sites that cannot reach spare capacity hold exactly the
   * groups all of whose holders are among them (a piece of another group would give a way out),
   * so the flow value is (total - their bytes) + their capacities. Returns those sites as a mask
   * and those groups' bytes.
   */
  cut(): { sites: number; groupBytes: number } {
    if (this.moved) this.recount();
    let sites = 0;
    let groupBytes = 0;
    for (let s = 0; s < this.sites; s++) {
      if (this.level[s]! >= 0) continue;
      sites |= 1 << s;
      groupBytes += this.loads[s]!;
    }
    return { sites, groupBytes };
  }

  /** The flow as (group, site, bytes) edges, one per group and site with bytes, by group. */
  edges(): { group: Int32Array; site: Uint8Array; bytes: Float64Array } {
    const { pieceGroup, pieceSite, pieceBytes, eps } = this;
    // Pieces beyond the first per group come from splits: few. Sort them by group.
    const extra = Array.from({ length: this.pieces - this.groups }, (_, k) => this.groups + k);
    extra.sort((a, b) => pieceGroup[a]! - pieceGroup[b]!);
    const group = new Int32Array(this.pieces);
    const site = new Uint8Array(this.pieces);
    const bytes = new Float64Array(this.pieces);
    let m = 0;
    let k = 0;
    const put = (g: number, start: number, p: number) => {
      if (!(pieceBytes[p]! > eps)) return;
      for (let e = start; e < m; e++)
        if (site[e] === pieceSite[p]) {
          bytes[e]! += pieceBytes[p]!;
          return;
        }
      group[m] = g;
      site[m] = pieceSite[p]!;
      bytes[m++] = pieceBytes[p]!;
    };
    for (let g = 0; g < this.groups; g++) {
      const start = m;
      put(g, start, g);
      while (k < extra.length && pieceGroup[extra[k]!] === g) put(g, start, extra[k++]!);
    }
    return { group: group.subarray(0, m), site: site.subarray(0, m), bytes: bytes.subarray(0, m) };
  }

  /**
   * The starting placement: every group whole on one holder, greedily the one that would finish
   * first (rtt + load / bandwidth), which leaves little to move.
   */
  private place(groupBytes: Float64Array): void {
    const { mask, rtt, loads } = this;
    const perByte = this.bw.map((b) => 1 / b);
    for (let g = 0; g < this.groups; g++) {
      let m = mask[g]!;
      let best = -1;
      let bestTime = Infinity;
      while (m !== 0) {
        const s = 31 - Math.clz32(m & -m);
        m &= m - 1;
        const t = rtt[s]! + (loads[s]! + groupBytes[g]!) * perByte[s]!;
        if (t < bestTime || best < 0) {
          best = s;
          bestTime = t;
        }
      }
      this.pieceGroup[g] = g;
      this.pieceSite[g] = best;
      this.pieceBytes[g] = groupBytes[g]!;
      loads[best]! += groupBytes[g]!;
      this.onSite[best]!.push(g);
    }
    this.pieces = this.groups;
  }

  /** Loads summed afresh from the pieces: moves add and subtract fractions, which drift. */
  private recount(): void {
    const { loads, pieceSite, pieceBytes } = this;
    loads.fill(0);
    for (let p = 0; p < this.pieces; p++) loads[pieceSite[p]!]! += pieceBytes[p]!;
    this.moved = false;
  }

  /** One phase: relabel, then push every excess one level down. False when the flow is maximum. */
  private phase(): boolean {
    const n = this.sites;
    // A phase splits a piece when a site's excess or a target's budget runs out: at most
    // twice per site. Make room first.
    this.ensureRoom(2 * n);
    const { pieceGroup, pieceSite, pieceBytes, mask, loads, capacity, level, eps } = this;
    let spare = 0;
    let excess = 0;
    for (let s = 0; s < n; s++) {
      if (capacity[s]! - loads[s]! > eps) spare |= 1 << s;
      else if (loads[s]! - capacity[s]! > eps) excess |= 1 << s;
    }
    if (excess === 0) return false;
    // The residual site graph: s -> t when a piece on s belongs to a group t holds.
    const reach = this.reach;
    if (this.reachStale) {
      reach.fill(0);
      for (let p = 0; p < this.pieces; p++)
        if (pieceBytes[p]! > eps) reach[pieceSite[p]!]! |= mask[pieceGroup[p]!]!;
      this.reachStale = false;
    }
    const top = this.relabel(spare, reach);
    let active = false;
    for (let s = 0; s < n; s++) if (((excess >>> s) & 1) === 1 && level[s]! > 0) active = true;
    if (!active) return false;

    const levelMask = new Int32Array(top + 1);
    for (let s = 0; s < n; s++) if (level[s]! >= 0) levelMask[level[s]!]! |= 1 << s;
    const budget = this.budgets(top, levelMask, reach);
    for (let k = top; k >= 1; k--) {
      const below = levelMask[k - 1]!;
      for (let s = 0; s < n; s++) {
        if (level[s] !== k) continue;
        let left = loads[s]! - capacity[s]!;
        if (!(left > eps)) continue;
        // Targets: the sites one level down that s reaches and that may still receive.
        let open = 0;
        for (let t = 0; t < n; t++) if (((below >>> t) & 1) === 1 && budget[t]! > eps) open |= 1 << t;
        const list = this.compacted(s);
        for (let i = 0; i < list.length && left > eps && (reach[s]! & open) !== 0; i++) {
          const p = list[i]!;
          if (pieceSite[p] !== s || !(pieceBytes[p]! > 0)) continue;
          const m = mask[pieceGroup[p]!]! & open;
          if (m === 0) continue;
          const t = roomiest(m, budget);
          const d = Math.min(pieceBytes[p]!, left, budget[t]!);
          budget[t]! -= d;
          if (!(budget[t]! > eps)) open &= ~(1 << t);
          let arrived = p;
          if (d === pieceBytes[p]) {
            pieceSite[p] = t;
            this.stale[s]!++;
          } else {
            pieceBytes[p]! -= d;
            arrived = this.addPiece(pieceGroup[p]!, t, d);
          }
          this.onSite[t]!.push(arrived);
          loads[s]! -= d;
          loads[t]! += d;
          this.moved = true;
          this.reachStale = true;
          left -= d;
        }
      }
    }
    return true;
  }

  /** Site s's piece list, without the entries of pieces that left once they are half of it. */
  private compacted(s: number): number[] {
    const list = this.onSite[s]!;
    if (this.stale[s]! * 2 <= list.length) return list;
    let w = 0;
    for (const p of list) if (this.pieceSite[p] === s) list[w++] = p;
    list.length = w;
    this.stale[s] = 0;
    return list;
  }

  /** Distances to spare capacity over the residual site graph; returns the largest. */
  private relabel(spare: number, reach: Int32Array): number {
    const { level } = this;
    level.fill(-1);
    let labelled = spare;
    let frontier = spare;
    let k = 0;
    for (let s = 0; s < this.sites; s++) if (((spare >>> s) & 1) === 1) level[s] = 0;
    while (frontier !== 0) {
      k++;
      let next = 0;
      for (let s = 0; s < this.sites; s++) {
        if (((labelled >>> s) & 1) === 1 || (reach[s]! & frontier) === 0) continue;
        level[s] = k;
        next |= 1 << s;
      }
      labelled |= next;
      frontier = next;
    }
    return k - 1;
  }

  /**
   * What each labelled site may receive this phase: its spare capacity at level 0; above, what
   * the sites one level down that it reaches may receive, less its own excess. Pushes are capped
   * by it, so that excess is not moved where it cannot go on (an overestimate: sites share).
   */
  private budgets(top: number, levelMask: Int32Array, reach: Int32Array): Float64Array {
    const { level, loads, capacity } = this;
    const budget = new Float64Array(this.sites);
    for (let s = 0; s < this.sites; s++) if (level[s] === 0) budget[s] = capacity[s]! - loads[s]!;
    for (let k = 1; k <= top; k++) {
      for (let s = 0; s < this.sites; s++) {
        if (level[s] !== k) continue;
        let m = reach[s]! & levelMask[k - 1]!;
        let sum = 0;
        while (m !== 0) {
          sum += budget[31 - Math.clz32(m & -m)]!;
          m &= m - 1;
        }
        budget[s] = Math.max(0, sum - Math.max(0, loads[s]! - capacity[s]!));
      }
    }
    return budget;
  }

  private ensureRoom(more: number): void {
    const size = this.pieceGroup.length;
    if (this.pieces + more <= size) return;
    const grown = Math.max(2 * size, this.pieces + more);
    const group = new Int32Array(grown);
    const site = new Uint8Array(grown);
    const bytes = new Float64Array(grown);
    group.set(this.pieceGroup);
    site.set(this.pieceSite);
    bytes.set(this.pieceBytes);
    [this.pieceGroup, this.pieceSite, this.pieceBytes] = [group, site, bytes];
  }

  /** Appends a piece (room was made by ensureRoom) and returns its index. */
  private addPiece(group: number, site: number, bytes: number): number {
    const p = this.pieces++;
    this.pieceGroup[p] = group;
    this.pieceSite[p] = site;
    this.pieceBytes[p] = bytes;
    return p;
  }
}

export function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** The site of `m` with the largest budget (ties: the last). */
function roomiest(m: number, budget: Float64Array): number {
  let best = -1;
  let room = -Infinity;
  while (m !== 0) {
    const s = 31 - Math.clz32(m & -m);
    m &= m - 1;
    if (budget[s]! >= room) {
      best = s;
      room = budget[s]!;
    }
  }
  return best;
}
