import { describe, expect, it } from "vitest";
import { plan } from "../../src/plan/plan.js";
import { NitroError } from "../../src/util/errors.js";
import { cheapestFractionalCost, close, evaluate, hallOptimum, randomInstance, rng } from "./helpers.js";

const instance = (seed: number) =>
  randomInstance(seed, { sites: 2 + (seed % 5), chunks: 300, costs: true, rtt: seed % 2 === 1 });

describe("objectives", () => {
  it("time: cheapest fractional plan within 1% of the fastest, and the fastest of those", () => {
    for (let seed = 1; seed <= 25; seed++) {
      const input = instance(seed);
      const p = plan(input);
      const limit = p.lowerBound * 1.01;
      expect(p.fractional!.makespan).toBeLessThanOrEqual(limit * (1 + 1e-9));
      expect(close(p.fractional!.cost, cheapestFractionalCost(input, limit), 1e-7), `seed ${seed}`).toBe(
        true,
      );
      // Finishing any earlier costs more (unless it already is the fastest plan).
      if (p.fractional!.makespan > p.lowerBound * (1 + 1e-9)) {
        const earlier = p.fractional!.makespan * (1 - 1e-6);
        expect(cheapestFractionalCost(input, earlier)).toBeGreaterThan(p.fractional!.cost * (1 + 1e-9));
      }
    }
  });

  it("time and deadline stay exact with every chunk's holder set drawn at random", () => {
    for (let seed = 50; seed < 54; seed++) {
      const sites = 7 + (seed % 2);
      const input = randomInstance(seed, { sites, chunks: 3000, costs: true, rtt: seed % 2 === 0 });
      const r = rng(seed);
      input.holders.forEach((_, i) => (input.holders[i] = 1 + Math.floor(r() * (2 ** sites - 1))));
      const p = plan(input);
      expect(close(p.lowerBound, hallOptimum(input), 1e-9), `seed ${seed}`).toBe(true);
      const limit = p.lowerBound * 1.01;
      expect(close(p.fractional!.cost, cheapestFractionalCost(input, limit), 1e-7), `seed ${seed}`).toBe(
        true,
      );
      const seconds = p.lowerBound * 1.5;
      const d = plan(input, { kind: "deadline", seconds });
      expect(d.makespan).toBeLessThanOrEqual(seconds);
      expect(close(d.fractional!.cost, cheapestFractionalCost(input, seconds), 1e-7), `seed ${seed}`).toBe(
        true,
      );
    }
  });

  it("cost: each chunk from one of its cheapest holders, then as fast as that allows", () => {
    for (let seed = 1; seed <= 25; seed++) {
      const input = instance(seed);
      const p = plan(input, { kind: "cost" });
      let floor = 0;
      input.holders.forEach((m, i) => {
        const prices = input.sites.filter((_, s) => (m >>> s) & 1).map((s) => s.cost);
        floor += (input.sizes[i]! * Math.min(...prices)) / 1e9;
      });
      expect(close(p.cost, floor, 1e-12)).toBe(true);
      expect(close(evaluate(input, p.assignment).cost, floor, 1e-12)).toBe(true);
      const fast = plan(input);
      expect(p.cost).toBeLessThanOrEqual(fast.cost * (1 + 1e-12));
      expect(p.makespan).toBeGreaterThanOrEqual(fast.lowerBound * (1 - 1e-12));
      // Within one chunk per site of the fastest fractional plan among the cheapest.
      expect(p.makespan).toBeLessThanOrEqual(p.fractional!.makespan + p.roundingBound + 1e-12);
    }
  });

  it("deadline: cheapest plan that meets it, costs falling as the deadline grows", () => {
    for (let seed = 1; seed <= 15; seed++) {
      const input = instance(seed);
      const fastest = plan(input, { kind: "time" }, { slack: 0 });
      const cheapest = plan(input, { kind: "cost" });
      let previous = Infinity;
      for (const factor of [1.05, 1.2, 1.5, 2, 3, 10]) {
        const seconds = fastest.makespan * factor;
        const p = plan(input, { kind: "deadline", seconds });
        expect(p.makespan, `seed ${seed} x${factor}`).toBeLessThanOrEqual(seconds);
        expect(evaluate(input, p.assignment).makespan).toBeLessThanOrEqual(seconds);
        expect(close(p.fractional!.cost, cheapestFractionalCost(input, seconds), 1e-7)).toBe(true);
        expect(p.fractional!.cost).toBeLessThanOrEqual(previous * (1 + 1e-9));
        expect(p.cost).toBeGreaterThanOrEqual(cheapest.cost * (1 - 1e-12));
        previous = p.fractional!.cost;
      }
      const relaxed = plan(input, { kind: "deadline", seconds: cheapest.makespan * 2 });
      expect(close(relaxed.cost, cheapest.cost, 1e-9)).toBe(true);
    }
  });

  it("deadline: a clear usage error with the fastest possible time when it cannot be met", () => {
    const input = instance(3);
    const fastest = plan(input, { kind: "time" }, { slack: 0 });
    const attempt = () => plan(input, { kind: "deadline", seconds: fastest.lowerBound * 0.9 });
    expect(attempt).toThrow(NitroError);
    try {
      attempt();
    } catch (e) {
      expect((e as NitroError).exitCode).toBe(2);
      expect((e as Error).message).toMatch(/cannot be met: the fastest plan takes/);
    }
    // Between the fractional bound and the fastest integral plan: met if rounding allows, else an error.
    const tight = fastest.makespan;
    expect(plan(input, { kind: "deadline", seconds: tight }).makespan).toBeLessThanOrEqual(tight);
  });
});
