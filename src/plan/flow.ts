/**
 * The transportation network source -> group (capacity: group bytes) -> site (every holder,
 * unbounded) -> sink (capacity: what the site can send within the horizon T, i.e.
 * bandwidth * max(0, T - rtt)), with Dinic's max-flow on typed arrays.
 *
 * Capacities only grow between two `reset()`s, so the flow found at a smaller horizon (or with
 * fewer sites enabled) is kept and only augmented: the parametric searches warm-start.
 */
export class FlowNet {
  readonly groups: number;
  readonly sites: number;
  /** Sum of group bytes: the flow value that serves every chunk. */
  readonly total: number;
  /** Residual amounts below this are zero (float round-off of sums of byte counts). */
  readonly eps: number;
  /** Mid edges of group g are midFirst[g] + 2j, j-th holder in increasing site order. */
  readonly midFirst: Int32Array;
  readonly midSite: Uint8Array;

  private readonly groupBytes: Float64Array;
  private readonly bw: Float64Array;
  private readonly rtt: Float64Array;
  private readonly head: Int32Array;
  private readonly next: Int32Array;
  private readonly to: Int32Array;
  /** Residual capacity; the flow on edge e is the residual of its reverse e ^ 1. */
  private readonly cap: Float64Array;
  private readonly level: Int32Array;
  private readonly iter: Int32Array;
  private readonly queue: Int32Array;
  private readonly sinkFirst: number;
  private readonly sinkNode: number;
  private edges = 0;
  /** The last horizon set. */
  horizon = 0;

  constructor(groupMask: Int32Array, groupBytes: Float64Array, bw: Float64Array, rtt: Float64Array) {
    const G = groupMask.length;
    const n = bw.length;
    this.groups = G;
    this.sites = n;
    this.groupBytes = groupBytes;
    this.bw = bw;
    this.rtt = rtt;
    let total = 0;
    let mids = 0;
    for (let g = 0; g < G; g++) {
      total += groupBytes[g]!;
      mids += popcount(groupMask[g]!);
    }
    this.total = total;
    this.eps = total * 1e-13 + 1e-9;
    const nodes = G + n + 2;
    const m = 2 * (G + mids + n);
    this.sinkNode = nodes - 1;
    this.head = new Int32Array(nodes).fill(-1);
    this.next = new Int32Array(m);
    this.to = new Int32Array(m);
    this.cap = new Float64Array(m);
    this.level = new Int32Array(nodes);
    this.iter = new Int32Array(nodes);
    this.queue = new Int32Array(nodes);
    this.midFirst = new Int32Array(G);
    this.midSite = new Uint8Array(m);

    for (let g = 0; g < G; g++) this.add(0, 1 + g, groupBytes[g]!);
    for (let g = 0; g < G; g++) {
      this.midFirst[g] = this.edges;
      const mask = groupMask[g]!;
      for (let s = 0; s < n; s++) {
        if (((mask >>> s) & 1) === 0) continue;
        this.midSite[this.edges] = s;
        this.add(1 + g, 1 + G + s, Infinity);
      }
    }
    this.sinkFirst = this.edges;
    for (let s = 0; s < n; s++) this.add(1 + G + s, this.sinkNode, 0);
  }

  /** Zero flow everywhere; every sink capacity becomes 0 until the next setHorizon. */
  reset(): void {
    for (let e = 0; e < this.edges; e += 2) {
      this.cap[e]! += this.cap[e + 1]!;
      this.cap[e + 1] = 0;
    }
    for (let s = 0; s < this.sites; s++) this.cap[this.sinkFirst + 2 * s] = 0;
  }

  /** Site s may send bw * max(0, T - rtt) bytes when bit s of `enabled` is set, nothing otherwise. */
  setHorizon(T: number, enabled: number): void {
    this.horizon = T;
    for (let s = 0; s < this.sites; s++) {
      const e = this.sinkFirst + 2 * s;
      const limit = ((enabled >>> s) & 1) === 1 ? this.bw[s]! * Math.max(0, T - this.rtt[s]!) : 0;
      this.cap[e] = Math.max(0, limit - this.cap[e + 1]!);
    }
  }

  /** Augments to a maximum flow and returns its value. */
  maxflow(): number {
    while (this.bfs()) {
      this.iter.set(this.head);
      while (this.dfs(0, Infinity) > 0);
    }
    return this.value();
  }

  value(): number {
    let v = 0;
    for (let s = 0; s < this.sites; s++) v += this.cap[this.sinkFirst + 2 * s + 1]!;
    return v;
  }

  /** Bytes site s sends in the current flow. */
  load(s: number): number {
    return this.cap[this.sinkFirst + 2 * s + 1]!;
  }

  /** End (exclusive) of group g's mid edges. */
  midEnd(g: number): number {
    return g + 1 < this.groups ? this.midFirst[g + 1]! : this.sinkFirst;
  }

  /** Flow on mid edge e (an index from midFirst). */
  flow(e: number): number {
    return this.cap[e + 1]!;
  }

  /**
   * After maxflow: the minimum cut made of what the source still reaches. Returns the reached
   * sites as a mask and the bytes of the reached groups. No more flow can cross the cut, so the
   * flow value is (total - reachedBytes) + sum of the reached sites' capacities.
   */
  cut(): { sites: number; groupBytes: number } {
    let sites = 0;
    let groupBytes = 0;
    for (let g = 0; g < this.groups; g++) if (this.level[1 + g]! >= 0) groupBytes += this.groupBytes[g]!;
    for (let s = 0; s < this.sites; s++) if (this.level[1 + this.groups + s]! >= 0) sites |= 1 << s;
    return { sites, groupBytes };
  }

  private add(u: number, v: number, c: number): void {
    const e = this.edges;
    this.to[e] = v;
    this.cap[e] = c;
    this.next[e] = this.head[u]!;
    this.head[u] = e;
    this.to[e + 1] = u;
    this.cap[e + 1] = 0;
    this.next[e + 1] = this.head[v]!;
    this.head[v] = e + 1;
    this.edges += 2;
  }

  /**
   * Levels from the source. Stops once the rest of the queue is too deep to lead to the sink by
   * a shortest path: the sites' long lists of groups are not scanned for nothing. When the sink
   * is not reached, the search is complete and `cut` may use it.
   */
  private bfs(): boolean {
    const { level, queue, head, next, to, cap, eps, sinkNode } = this;
    level.fill(-1);
    level[0] = 0;
    queue[0] = 0;
    let qh = 0;
    let qt = 1;
    while (qh < qt) {
      const u = queue[qh++]!;
      if (level[sinkNode]! >= 0 && level[u]! + 1 >= level[sinkNode]!) break;
      for (let e = head[u]!; e !== -1; e = next[e]!) {
        const v = to[e]!;
        if (level[v]! < 0 && cap[e]! > eps) {
          level[v] = level[u]! + 1;
          queue[qt++] = v;
        }
      }
    }
    return level[sinkNode]! >= 0;
  }

  private dfs(u: number, pushed: number): number {
    if (u === this.sinkNode) return pushed;
    const { level, iter, next, to, cap, eps } = this;
    for (let e = iter[u]!; e !== -1; e = iter[u] = next[e]!) {
      const v = to[e]!;
      if (cap[e]! <= eps || level[v] !== level[u]! + 1) continue;
      const d = this.dfs(v, Math.min(pushed, cap[e]!));
      if (d > 0) {
        cap[e]! -= d;
        cap[e ^ 1]! += d;
        return d;
      }
    }
    return 0;
  }
}

export function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}
