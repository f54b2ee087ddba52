import { describe, expect, it } from "vitest";
import { plan } from "../../src/plan/plan.js";
import { close, hallOptimum, hallOptimumBySubsetSums, randomInstance, rng } from "./helpers.js";

describe("planner lower bound", () => {
  it("equals the Hall-type fractional optimum on random instances without start-up times", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const sites = 2 + (seed % 9);
      const input = randomInstance(seed, { sites, chunks: 300 + 37 * seed });
      const p = plan(input);
      const hall = hallOptimum(input);
      expect(Math.abs(p.lowerBound - hall) / hall, `seed ${seed}`).toBeLessThan(1e-9);
    }
  });

  it("equals the Hall-type fractional optimum with per-site start-up times", () => {
    for (let seed = 100; seed < 130; seed++) {
      const input = randomInstance(seed, { sites: 2 + (seed % 7), chunks: 200, rtt: true, maxSize: 4 << 20 });
      const p = plan(input);
      const hall = hallOptimum(input);
      expect(Math.abs(p.lowerBound - hall) / hall, `seed ${seed}`).toBeLessThan(1e-9);
    }
  });

  it("is attained by the fractional plan it rounds, which carries every byte", () => {
    for (let seed = 200; seed < 220; seed++) {
      const input = randomInstance(seed, { sites: 2 + (seed % 9), chunks: 500, rtt: seed % 2 === 0 });
      const p = plan(input, { kind: "time" }, { slack: 0 });
      const total = Array.from(input.sizes).reduce((a, b) => a + b, 0);
      const carried = p.fractional!.bytesPerSite.reduce((a, b) => a + b, 0);
      expect(Math.abs(carried - total) / total).toBeLessThan(1e-9);
      expect(p.fractional!.makespan).toBeLessThanOrEqual(p.lowerBound * (1 + 1e-9));
      expect(p.lowerBound).toBeGreaterThan(0);
    }
  });

  it("equals it with every chunk's holder set drawn at random, 10-16 sites, most sets distinct", () => {
    for (let seed = 300; seed < 306; seed++) {
      const sites = 10 + (seed % 7);
      const input = randomInstance(seed, { sites, chunks: 20_000, rtt: seed % 2 === 0 });
      const r = rng(seed);
      input.holders.forEach((_, i) => (input.holders[i] = 1 + Math.floor(r() * (2 ** sites - 1))));
      const p = plan(input);
      const hall = hallOptimumBySubsetSums(input);
      expect(Math.abs(p.lowerBound - hall) / hall, `seed ${seed}`).toBeLessThan(1e-9);
    }
  });

  it("the subset-sum form of the check agrees with the plain one", () => {
    for (let seed = 400; seed < 410; seed++) {
      const input = randomInstance(seed, { sites: 2 + (seed % 8), chunks: 300, rtt: seed % 2 === 0 });
      expect(close(hallOptimumBySubsetSums(input), hallOptimum(input), 1e-12), `seed ${seed}`).toBe(true);
    }
  });
});
