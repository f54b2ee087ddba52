import { describe, expect, it } from "vitest";
import { polish, type Assignment } from "../../src/plan/polish.js";
import { makespanOf, type SiteModel } from "../../src/plan/split.js";

// Two sites at 1 byte/s, every chunk at both: A holds 5 + 5, B holds 3 + 3. No single move helps
// (A's 5 at B makes B 11 > 10); swapping a 5 for a 3 makes both 8.
function stuckOnMoves(): { a: Assignment; model: SiteModel } {
  const a: Assignment = {
    sizes: [5, 5, 3, 3],
    groupOf: new Int32Array([0, 0, 0, 0]),
    allowed: new Int32Array([0b11]),
    site: new Uint8Array([0, 0, 1, 1]),
    load: new Float64Array([10, 6]),
    count: new Float64Array([2, 2]),
  };
  const model = { bw: new Float64Array([1, 1]), rtt: new Float64Array(2), price: new Float64Array(2) };
  return { a, model };
}

describe("polish", () => {
  it("swaps chunks between sites when no move lowers the makespan", () => {
    const { a, model } = stuckOnMoves();
    polish(a, model, 8, 1e6);
    expect(makespanOf(a.load, model)).toBe(8);
    expect(Array.from(a.load)).toEqual([8, 8]);
    expect([...a.site].filter((s) => s === 0)).toHaveLength(2);
  });

  it("leaves swaps alone while the makespan is at most swapAbove", () => {
    const { a, model } = stuckOnMoves();
    polish(a, model, 8, 1e6, 10);
    expect(Array.from(a.load)).toEqual([10, 6]);
    expect(Array.from(a.site)).toEqual([0, 0, 1, 1]);
  });
});
