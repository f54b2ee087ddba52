import { describe, expect, it } from "vitest";
import { plan } from "../../src/plan/plan.js";
import { NO_SITE } from "../../src/plan/types.js";
import { evaluate, hallOptimum, randomInstance } from "./helpers.js";

describe("chunks no usable site holds", () => {
  it("are counted, left unassigned and out of every figure", () => {
    const input = randomInstance(21, { sites: 4, chunks: 2000, orphans: 0.05 });
    const orphans = input.holders.filter((m) => m === 0).length;
    const orphanBytes = Array.from(input.sizes).reduce(
      (sum, size, i) => sum + (input.holders[i] ? 0 : size),
      0,
    );
    expect(orphans).toBeGreaterThan(50);
    for (const objective of [{ kind: "time" }, { kind: "cost" }] as const) {
      const p = plan(input, objective);
      expect(p.unassigned).toBe(orphans);
      expect(p.unassignedBytes).toBe(orphanBytes);
      input.holders.forEach((m, i) => expect(p.assignment[i] === NO_SITE).toBe(m === 0));
      expect(p.chunksPerSite.reduce((a, b) => a + b, 0)).toBe(2000 - orphans);
      expect(p.makespan).toBeCloseTo(evaluate(input, p.assignment).makespan, 12);
      expect(Math.abs(p.lowerBound - hallOptimum(input)) / p.lowerBound).toBeLessThan(1e-9);
    }
  });

  it("include chunks held only by sites of zero bandwidth, which send nothing", () => {
    const input = randomInstance(22, { sites: 3, chunks: 500 });
    input.sites = input.sites.map((s, i) => (i === 2 ? { ...s, bandwidth: 0 } : s));
    const only2 = input.holders.filter((m) => m === 4).length;
    expect(only2).toBeGreaterThan(0);
    const p = plan(input);
    expect(p.unassigned).toBe(only2);
    expect(p.bytesPerSite[2]).toBe(0);
    expect(p.secondsPerSite[2]).toBe(0);
  });

  it("make an empty plan when nothing can be sent", () => {
    const sites = [{ name: "a", bandwidth: 1e6, cost: 0 }];
    const none = plan({ sites, sizes: new Uint32Array(0), holders: new Uint32Array(0) });
    expect(none.makespan).toBe(0);
    expect(none.assignment.length).toBe(0);
    const orphaned = plan({ sites, sizes: Uint32Array.of(10, 20), holders: Uint32Array.of(0, 2) });
    expect([...orphaned.assignment]).toEqual([NO_SITE, NO_SITE]);
    expect(orphaned.unassigned).toBe(2);
    expect(orphaned.unassignedBytes).toBe(30);
    expect(orphaned.makespan).toBe(0);
  });
});
