/**
 * The transportation network source -> group (capacity: group bytes) -> site (every holder,
 * unbounded) -> sink (capacity: what the site can send within the horizon T, i.e.
 * bandwidth * max(0, T - rtt)), solved from the sites' side so that the work per step is linear
 * in the groups and the number of steps depends on the sites only (at most 32).
 *
 * Every group's bytes are always placed on its holders, as "pieces" (group, site, bytes); a site
 * placed above its capacity holds the excess. Moving bytes of a group from site s to another
 * holder t is a residual path s -> group -> t, so the sites form a small residual graph: s -> t
 * when a piece on s belongs to a group that t holds. Push-relabel on that graph: each phase
 * labels every site with its distance to a site with spare capacity (one pass over the pieces
 * and a breadth-first search over at most 32 sites), then pushes every excess one level down,
 * highest level first. The flow is maximum when no site with excess reaches spare capacity;
 * its value is the total minus the remaining excess.
 *
 * Any placement is a valid start, so the searches over the horizon warm-start for free.
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
  private readonly groupBytes: Float64Array;
  private readonly bw: Float64Array;
  private readonly rtt: Float64Array;
  private readonly capacity: Float64Array;
  private readonly loads: Float64Array;
  /** Per site, its distance to spare capacity at the last phase (-1: none). */
  private readonly level: Int32Array;
  private pieceGroup: Int32Array;
  private pieceSite: Uint8Array;
  private pieceBytes: Float64Array;
  private pieces = 0;

  constructor(groupMask: Int32Array, groupBytes: Float64Array, bw: Float64Array, rtt: Float64Array) {
    const G = groupMask.length;
    this.groups = G;
    this.sites = bw.length;
    this.mask = groupMask;
    this.groupBytes = groupBytes;
    this.bw = bw;
    this.rtt = rtt;
    let total = 0;
    for (let g = 0; g < G; g++) total += groupBytes[g]!;
    this.total = total;
    this.eps = total * 1e-13 + 1e-9;
    this.capacity = new Float64Array(this.sites);
    this.loads = new Float64Array(this.sites);
    this.level = new Int32Array(this.sites);
    const room = G + 64;
    this.pieceGroup = new Int32Array(room);
    this.pieceSite = new Uint8Array(room);
    this.pieceBytes = new Float64Array(room);
    this.reset();
  }

  /**
   * Places every group whole on one holder, greedily by bandwidth (the holder whose load / bw
   * would stay smallest), which leaves little to move; every capacity becomes 0 until the next
   * setHorizon.
   */
  reset(): void {
    const { mask, groupBytes, bw, loads } = this;
    loads.fill(0);
    this.capacity.fill(0);
    for (let g = 0; g < this.groups; g++) {
      let m = mask[g]!;
      let best = -1;
      let bestTime = Infinity;
      while (m !== 0) {
        const s = 31 - Math.clz32(m & -m);
        m &= m - 1;
        const t = this.rtt[s]! + (loads[s]! + groupBytes[g]!) / bw[s]!;
        if (t < bestTime || best < 0) {
          best = s;
          bestTime = t;
        }
      }
      this.pieceGroup[g] = g;
      this.pieceSite[g] = best;
      this.pieceBytes[g] = groupBytes[g]!;
      loads[best]! += groupBytes[g]!;
    }
    this.pieces = this.groups;
  }

  /** Site s may send bw * max(0, T - rtt) bytes when bit s of `enabled` is set, nothing otherwise. */
  setHorizon(T: number, enabled: number): void {
    this.horizon = T;
    for (let s = 0; s < this.sites; s++)
      this.capacity[s] = ((enabled >>> s) & 1) === 1 ? this.bw[s]! * Math.max(0, T - this.rtt[s]!) : 0;
  }

  /** Moves bytes until the flow is maximum; returns its value. */
  maxflow(): number {
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
    const group: number[] = [];
    const site: number[] = [];
    const bytes: number[] = [];
    let k = 0;
    for (let g = 0; g < this.groups; g++) {
      const start = group.length;
      const put = (p: number) => {
        if (!(pieceBytes[p]! > eps)) return;
        for (let e = start; e < group.length; e++)
          if (site[e] === pieceSite[p]) {
            bytes[e]! += pieceBytes[p]!;
            return;
          }
        group.push(g);
        site.push(pieceSite[p]!);
        bytes.push(pieceBytes[p]!);
      };
      put(g);
      while (k < extra.length && pieceGroup[extra[k]!] === g) put(extra[k++]!);
    }
    return { group: Int32Array.from(group), site: Uint8Array.from(site), bytes: Float64Array.from(bytes) };
  }

  /** One phase: recount, relabel, push. False when the flow is already maximum. */
  private phase(): boolean {
    const n = this.sites;
    // A phase splits at most one piece per site (the last it moves): make room first.
    this.ensureRoom(n);
    const { pieceGroup, pieceSite, pieceBytes, mask, loads, capacity, level, eps } = this;
    const P = this.pieces;
    // Loads afresh (no drift from incremental updates), the residual site graph, pieces by site.
    loads.fill(0);
    const reach = new Int32Array(n);
    const count = new Int32Array(n + 1);
    for (let p = 0; p < P; p++) {
      const b = pieceBytes[p]!;
      if (!(b > 0)) continue;
      const s = pieceSite[p]!;
      loads[s]! += b;
      count[s + 1]!++;
      if (b > eps) reach[s]! |= mask[pieceGroup[p]!]!;
    }
    let spare = 0;
    let excess = 0;
    for (let s = 0; s < n; s++) {
      if (capacity[s]! - loads[s]! > eps) spare |= 1 << s;
      else if (loads[s]! - capacity[s]! > eps) excess |= 1 << s;
    }
    const top = this.relabel(spare, reach);
    if (excess === 0 || spare === 0) return false;
    let stuck = true;
    for (let s = 0; s < n; s++) if (((excess >>> s) & 1) === 1 && level[s]! > 0) stuck = false;
    if (stuck) return false;

    for (let s = 0; s < n; s++) count[s + 1]! += count[s]!;
    const bySite = new Int32Array(count[n]!);
    const fill = count.slice(0, n);
    for (let p = 0; p < P; p++) if (pieceBytes[p]! > 0) bySite[fill[pieceSite[p]!]!++] = p;
    const arrived: number[][] = Array.from({ length: n }, () => []);
    const levelMask = new Int32Array(top + 1);
    for (let s = 0; s < n; s++) if (level[s]! >= 0) levelMask[level[s]!]! |= 1 << s;

    for (let k = top; k >= 1; k--) {
      const below = levelMask[k - 1]!;
      for (let s = 0; s < n; s++) {
        if (level[s] !== k) continue;
        let left = loads[s]! - capacity[s]!;
        if (!(left > eps)) continue;
        const move = (p: number) => {
          if (pieceSite[p] !== s || !(pieceBytes[p]! > 0)) return;
          const m = mask[pieceGroup[p]!]! & below;
          if (m === 0) return;
          const t = this.roomiest(m);
          const d = Math.min(pieceBytes[p]!, left);
          let moved = p;
          if (d === pieceBytes[p]) pieceSite[p] = t;
          else {
            pieceBytes[p]! -= d;
            moved = this.addPiece(pieceGroup[p]!, t, d);
          }
          arrived[t]!.push(moved);
          loads[s]! -= d;
          loads[t]! += d;
          left -= d;
        };
        for (let i = count[s]!; i < count[s + 1]! && left > eps; i++) move(bySite[i]!);
        const late = arrived[s]!;
        for (let i = 0; i < late.length && left > eps; i++) move(late[i]!);
      }
    }
    return true;
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

  /** The site of `m` with the most spare capacity (the first when none has any). */
  private roomiest(m: number): number {
    let best = -1;
    let room = -Infinity;
    while (m !== 0) {
      const s = 31 - Math.clz32(m & -m);
      m &= m - 1;
      const r = this.capacity[s]! - this.loads[s]!;
      if (r >= room) {
        best = s;
        room = r;
      }
    }
    return best;
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
