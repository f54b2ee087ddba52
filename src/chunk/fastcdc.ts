import type { ChunkerParams } from "../store/types.js";
import { GEAR } from "./gear.js";
import type { CutFunction } from "./chunker.js";

/**
 * FastCDC (Xia et al., USENIX ATC 2016) with normalized chunking level 2: a stricter mask before
 * the average size and a looser one after it concentrates sizes around the average. The gear hash
 * shifts left, so its top bits see the last 32 bytes: masks take the top bits.
 */
export function fastcdcCut(p: ChunkerParams): CutFunction {
  const bits = Math.round(Math.log2(p.avg));
  const maskS = topBits(bits + 2);
  const maskL = topBits(bits - 2);
  const { min, avg, max } = p;
  const gear = GEAR;
  return (buf, start, end) => {
    const n = end - start;
    if (n <= min) return end;
    const limit = n > max ? start + max : end;
    const normal = Math.min(start + avg, limit);
    let h = 0;
    let i = start + min;
    while (i < normal) {
      h = ((h << 1) + gear[buf[i]!]!) | 0;
      i++;
      if ((h & maskS) === 0) return i;
    }
    while (i < limit) {
      h = ((h << 1) + gear[buf[i]!]!) | 0;
      i++;
      if ((h & maskL) === 0) return i;
    }
    return limit;
  };
}

function topBits(n: number): number {
  return (~0 << (32 - n)) | 0;
}
