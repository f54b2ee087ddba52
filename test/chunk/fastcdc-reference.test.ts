import { describe, expect, it } from "vitest";
import { chunkerParams, cutFunction } from "../../src/chunk/chunker.js";
import { GEAR } from "../../src/chunk/gear.js";
import type { ChunkerParams } from "../../src/store/types.js";
import { pseudoRandom } from "../helpers/data.js";

/** FastCDC as the paper writes it, one byte per step: the word-at-a-time cut must agree. */
function referenceCut(p: ChunkerParams, buf: Uint8Array, start: number, end: number): number {
  const bits = Math.round(Math.log2(p.avg));
  const maskS = (~0 << (32 - bits - 2)) | 0;
  const maskL = (~0 << (32 - bits + 2)) | 0;
  if (end - start <= p.min) return end;
  const limit = Math.min(end, start + p.max);
  let h = 0;
  for (let i = start + p.min; i < limit; i++) {
    h = ((h << 1) + GEAR[buf[i]!]!) | 0;
    if ((h & (i < start + p.avg ? maskS : maskL)) === 0) return i + 1;
  }
  return limit;
}

function cuts(cut: (b: Uint8Array, s: number, e: number) => number, buf: Uint8Array): number[] {
  const out: number[] = [];
  for (let s = 0; s < buf.length;) out.push((s = cut(buf, s, buf.length)));
  return out;
}

/** The same bytes at a chosen offset into their ArrayBuffer (0 is word-aligned, 1 is not). */
function at(offset: number, data: Uint8Array): Uint8Array {
  const view = new Uint8Array(new ArrayBuffer(data.length + 8), offset, data.length);
  view.set(data);
  return view;
}

describe("FastCDC word-at-a-time scan", () => {
  // Low-entropy stretches make short, odd-length chunks, so cuts land on every byte position.
  const data = Buffer.concat([
    pseudoRandom("ref", 3 * 1024 * 1024),
    Buffer.alloc(300_001, 7),
    Buffer.from("abcabcabd".repeat(40_000)),
    pseudoRandom("tail", 1_000_003),
  ]);

  for (const avg of [1024, 4096, 64 * 1024, 256 * 1024]) {
    it(`cuts exactly where the byte-by-byte reference does (avg ${avg}, aligned and not)`, () => {
      const p = chunkerParams("fastcdc", avg);
      const expected = cuts((b, s, e) => referenceCut(p, b, s, e), data);
      expect(new Set(expected.map((c) => c % 4)).size).toBe(4);
      for (const offset of [0, 1, 2, 3]) expect(cuts(cutFunction(p), at(offset, data))).toEqual(expected);
    });
  }
});
