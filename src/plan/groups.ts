import { popcount } from "./flow.js";

/**
 * Chunks grouped by the set of usable sites holding them. Millions of chunks usually fall into
 * tens to hundreds of groups (at most min(chunks, 2^sites): with arbitrary holder sets over 20+
 * sites nearly every chunk is its own group), and the flow problem is solved on groups.
 */
export interface Groups {
  count: number;
  /** Holder mask of each group (int32 bit pattern; bit 31 may make it negative). */
  mask: Int32Array;
  bytes: Float64Array;
  chunks: Float64Array;
  maxSize: Float64Array;
  /** Group of each chunk, -1 when no usable site holds it. */
  groupOf: Int32Array;
  unassigned: number;
  unassignedBytes: number;
}

export function groupChunks(sizes: ArrayLike<number>, holders: Uint32Array, usable: number): Groups {
  const n = holders.length;
  const groupOf = new Int32Array(n);
  // Open addressing on the mask: slot h holds (mask, group + 1) at 2h and 2h + 1, 0 when empty
  // (one cache line per probe when most chunks have their own set). The table grows so that it
  // stays at most half full; it and the arrays start large enough for min(chunks, 2^holders)
  // groups, up to 2^20 of them.
  let bits = Math.max(8, Math.min(31 - Math.clz32(Math.max(1, n)) + 2, popcount(usable) + 1, 21));
  let slots = new Int32Array(2 << bits);
  const room = Math.max(64, Math.min(n, 2 ** Math.min(popcount(usable), 20)));
  let mask = new Int32Array(room);
  let bytes = new Float64Array(room);
  let chunks = new Float64Array(room);
  let maxSize = new Float64Array(room);
  let count = 0;
  let unassigned = 0;
  let unassignedBytes = 0;
  let lastMask = 0;
  let lastGroup = -1;

  for (let i = 0; i < n; i++) {
    const m = holders[i]! & usable;
    const size = sizes[i]!;
    if (m === 0) {
      groupOf[i] = -1;
      unassigned++;
      unassignedBytes += size;
      continue;
    }
    let g: number;
    if (m === lastMask && lastGroup >= 0) g = lastGroup;
    else {
      let h = Math.imul(m, 0x9e3779b1) >>> (32 - bits);
      const wrap = (1 << bits) - 1;
      while ((g = slots[2 * h + 1]! - 1) >= 0 && slots[2 * h] !== m) h = (h + 1) & wrap;
      if (g < 0) {
        g = count++;
        if (g === mask.length) {
          mask = grow(mask);
          bytes = grow(bytes);
          chunks = grow(chunks);
          maxSize = grow(maxSize);
        }
        mask[g] = m;
        slots[2 * h] = m;
        slots[2 * h + 1] = g + 1;
        if (count * 2 > 1 << bits) {
          bits++;
          slots = rehash(mask, count, bits);
        }
      }
      lastMask = m;
      lastGroup = g;
    }
    groupOf[i] = g;
    bytes[g]! += size;
    chunks[g]!++;
    if (size > maxSize[g]!) maxSize[g] = size;
  }
  return {
    count,
    mask: mask.slice(0, count),
    bytes: bytes.slice(0, count),
    chunks: chunks.slice(0, count),
    maxSize: maxSize.slice(0, count),
    groupOf,
    unassigned,
    unassignedBytes,
  };
}

function grow<T extends Int32Array<ArrayBuffer> | Float64Array<ArrayBuffer>>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}

function rehash(mask: Int32Array, count: number, bits: number): Int32Array<ArrayBuffer> {
  const slots = new Int32Array(2 << bits);
  const wrap = (1 << bits) - 1;
  for (let g = 0; g < count; g++) {
    let h = Math.imul(mask[g]!, 0x9e3779b1) >>> (32 - bits);
    while (slots[2 * h + 1]! !== 0) h = (h + 1) & wrap;
    slots[2 * h] = mask[g]!;
    slots[2 * h + 1] = g + 1;
  }
  return slots;
}
