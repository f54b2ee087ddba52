import { describe, expect, it } from "vitest";
import { plan } from "../../src/plan/plan.js";
import { NitroError } from "../../src/util/errors.js";
import { evaluate, hallOptimum, randomInstance } from "./helpers.js";

describe("planner input", () => {
  it("handles 32 sites, the top bit of the holder mask included", () => {
    const input = randomInstance(31, { sites: 32, chunks: 3000 });
    input.holders.forEach((m, i) => (input.holders[i] = i % 3 === 0 ? 0x80000000 : m));
    const p = plan(input);
    expect(p.chunksPerSite[31]).toBeGreaterThanOrEqual(1000);
    expect(p.makespan).toBeCloseTo(evaluate(input, p.assignment).makespan, 12);
    expect(p.makespan).toBeLessThanOrEqual(p.fractional!.makespan + p.roundingBound + 1e-12);
  });

  it("agrees with the Hall bound when one site dominates", () => {
    const input = randomInstance(32, { sites: 5, chunks: 1000 });
    input.sites = input.sites.map((s, i) => ({ ...s, bandwidth: i === 0 ? 1e9 : 1e6 }));
    const p = plan(input);
    expect(Math.abs(p.lowerBound - hallOptimum(input)) / p.lowerBound).toBeLessThan(1e-9);
  });

  it("gives zero-byte chunks to a holder without an extra start-up", () => {
    const sites = [
      { name: "a", bandwidth: 1e6, cost: 0, rtt: 0.01 },
      { name: "b", bandwidth: 1e6, cost: 0, rtt: 5 },
    ];
    const p = plan({ sites, sizes: Uint32Array.of(1000, 0, 0), holders: Uint32Array.of(1, 2, 3) });
    expect(p.assignment[0]).toBe(0);
    expect(p.assignment[2]).toBe(0);
    expect(p.assignment[1]).toBe(1); // only b holds it
    expect(p.unassigned).toBe(0);
    expect(p.chunksPerSite).toEqual([2, 1]);
  });

  it("rejects what it cannot plan with usage errors", () => {
    const base = randomInstance(33, { sites: 3, chunks: 10 });
    const bad = (f: () => unknown, pattern: RegExp) => {
      expect(f).toThrow(NitroError);
      expect(f).toThrow(pattern);
    };
    const site = (patch: object) => ({
      ...base,
      sites: [{ ...base.sites[0]!, ...patch }, ...base.sites.slice(1)],
    });
    bad(() => plan(site({ bandwidth: -1 })), /bandwidth/);
    bad(() => plan(site({ bandwidth: Infinity })), /bandwidth/);
    bad(() => plan(site({ cost: NaN })), /cost/);
    bad(() => plan(site({ rtt: -0.1 })), /rtt/);
    bad(() => plan(base, { kind: "deadline", seconds: 0 }), /deadline/);
    bad(() => plan(base, { kind: "time" }, { slack: -1 }), /slack/);
    const many = randomInstance(34, { sites: 32, chunks: 10 });
    bad(() => plan({ ...many, sites: [...many.sites, many.sites[0]!] }), /at most 32 sites/);
    bad(() => plan({ ...base, holders: base.holders.subarray(1) }), /holder sets/);
  });
});
