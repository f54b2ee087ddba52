import { usage } from "../util/errors.js";
import { popcount } from "./flow.js";
import type { Groups } from "./groups.js";
import { NO_SITE, type Strategy } from "./types.js";

/**
 * The simple strategies the optimal plan is compared with. Each returns a site per chunk
 * (NO_SITE for chunks no usable site holds); all are single passes over the chunks.
 */
export function baseline(
  strategy: Exclude<Strategy, "optimal">,
  groups: Groups,
  bw: Float64Array,
  rtt: Float64Array,
  cost: Float64Array,
  seed: number,
): Uint8Array {
  const { groupOf, mask } = groups;
  const n = bw.length;
  const out = new Uint8Array(groupOf.length).fill(NO_SITE);
  switch (strategy) {
    case "random": {
      const next = mulberry32(seed);
      for (let i = 0; i < groupOf.length; i++) {
        const g = groupOf[i]!;
        if (g < 0) continue;
        let m = mask[g]!;
        for (let k = Math.floor(next() * popcount(m)); k > 0; k--) m &= m - 1;
        out[i] = 31 - Math.clz32(m & -m);
      }
      return out;
    }
    case "round-robin": {
      // Each chunk to the first holder after the site that got the previous chunk.
      let last = n - 1;
      for (let i = 0; i < groupOf.length; i++) {
        const g = groupOf[i]!;
        if (g < 0) continue;
        const m = mask[g]!;
        let s = last;
        do s = s + 1 === n ? 0 : s + 1;
        while (((m >>> s) & 1) === 0);
        out[i] = last = s;
      }
      return out;
    }
    case "fastest-source": {
      const pick = Int32Array.from(mask, (m) => bestOf(m, n, (a, b) => faster(a, b, bw, rtt, cost)));
      for (let i = 0; i < groupOf.length; i++) if (groupOf[i]! >= 0) out[i] = pick[groupOf[i]!]!;
      return out;
    }
    case "single-site": {
      let all = -1;
      for (let g = 0; g < groups.count; g++) all &= mask[g]!;
      const finish = (s: number) => rtt[s]! + totalBytes(groups) / bw[s]!;
      const s = bestOf(
        all,
        n,
        (a, b) => finish(a) < finish(b) || (finish(a) === finish(b) && cost[a]! < cost[b]!),
      );
      if (groups.count > 0 && s < 0)
        throw usage("strategy single-site: no single site holds every chunk the destination lacks");
      for (let i = 0; i < groupOf.length; i++) if (groupOf[i]! >= 0) out[i] = s;
      return out;
    }
  }
}

function faster(a: number, b: number, bw: Float64Array, rtt: Float64Array, cost: Float64Array): boolean {
  if (bw[a] !== bw[b]) return bw[a]! > bw[b]!;
  if (rtt[a] !== rtt[b]) return rtt[a]! < rtt[b]!;
  return cost[a]! < cost[b]!;
}

/** The site of `mask` (below n) preferred by `better`, -1 if the mask is empty. */
function bestOf(mask: number, n: number, better: (a: number, b: number) => boolean): number {
  let best = -1;
  for (let s = 0; s < n; s++) if (((mask >>> s) & 1) === 1 && (best < 0 || better(s, best))) best = s;
  return best;
}

function totalBytes(groups: Groups): number {
  let t = 0;
  for (let g = 0; g < groups.count; g++) t += groups.bytes[g]!;
  return t;
}

/** Small, fast, seedable PRNG with uniform floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
