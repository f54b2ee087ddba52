import { describe, expect, it } from "vitest";
import { plan } from "../../src/plan/plan.js";
import { bruteForceOptimum, evaluate, hallOptimum, oneChunkTime, randomInstance } from "./helpers.js";

// The stated bound: rounding to whole chunks adds at most one chunk per site, so
// makespan <= fractional makespan + max over sites of (largest chunk it may get) / bandwidth.
describe("integral plan", () => {
  it("stays within one chunk per site of the fractional plan, sizes 16-256 KiB", () => {
    for (let seed = 1; seed <= 60; seed++) {
      const input = randomInstance(seed, {
        sites: 2 + (seed % 9),
        chunks: 50 + 97 * seed,
        rtt: seed % 3 === 0,
      });
      const p = plan(input, { kind: "time" }, { slack: 0 });
      const { makespan } = evaluate(input, p.assignment);
      expect(makespan).toBeCloseTo(p.makespan, 12);
      expect(p.roundingBound).toBeLessThanOrEqual(oneChunkTime(input));
      expect(makespan, `seed ${seed}`).toBeLessThanOrEqual(p.fractional!.makespan + p.roundingBound + 1e-12);
      expect(makespan).toBeLessThanOrEqual(hallOptimum(input) + oneChunkTime(input) + 1e-12);
    }
  });

  it("stays within the bound when chunk sizes vary a thousandfold", () => {
    for (let seed = 500; seed < 530; seed++) {
      const input = randomInstance(seed, {
        sites: 3 + (seed % 8),
        chunks: 400,
        minSize: 4096,
        maxSize: 4 << 20,
      });
      const p = plan(input, { kind: "time" }, { slack: 0 });
      expect(p.makespan).toBeLessThanOrEqual(p.fractional!.makespan + p.roundingBound + 1e-12);
      expect(p.makespan).toBeGreaterThanOrEqual(p.lowerBound * (1 - 1e-12));
    }
  });

  it("is bracketed by the brute-force optimum on tiny instances", () => {
    let optimalCount = 0;
    const runs = 150;
    for (let seed = 1; seed <= runs; seed++) {
      const input = randomInstance(seed, {
        sites: 2 + (seed % 3),
        chunks: 3 + (seed % 6),
        minSize: 1000,
        maxSize: 9000,
        rtt: seed % 2 === 0,
      });
      const best = bruteForceOptimum(input);
      const p = plan(input, { kind: "time" }, { slack: 0 });
      expect(p.lowerBound).toBeLessThanOrEqual(best * (1 + 1e-12));
      expect(p.makespan).toBeGreaterThanOrEqual(best * (1 - 1e-12));
      expect(p.makespan, `seed ${seed}`).toBeLessThanOrEqual(
        p.fractional!.makespan + p.roundingBound + 1e-12,
      );
      if (p.makespan <= best * (1 + 1e-12)) optimalCount++;
    }
    // Not a guarantee, a regression guard: local search finds the optimum most of the time.
    expect(optimalCount / runs).toBeGreaterThan(0.8);
  });
});
