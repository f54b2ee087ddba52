import { describe, expect, it } from "vitest";
import { plan } from "../../src/plan/plan.js";
import { NO_SITE, type Strategy } from "../../src/plan/types.js";
import { NitroError } from "../../src/util/errors.js";
import { evaluate, randomInstance } from "./helpers.js";

const BASELINES: Strategy[] = ["random", "round-robin", "fastest-source", "single-site"];

describe("baseline strategies", () => {
  it("send every chunk from a site holding it, with the figures they report", () => {
    const input = randomInstance(7, { sites: 6, chunks: 3000, rtt: true, costs: true });
    input.holders.forEach((m, i) => (input.holders[i] = m | 1)); // site 0 holds everything
    for (const strategy of BASELINES) {
      const p = plan(input, { kind: "time" }, { strategy });
      const { makespan, cost } = evaluate(input, p.assignment);
      expect(p.makespan).toBeCloseTo(makespan, 12);
      expect(p.cost).toBeCloseTo(cost, 12);
      expect(p.chunksPerSite.reduce((a, b) => a + b, 0)).toBe(3000);
    }
  });

  it("follow their rule", () => {
    const input = randomInstance(8, { sites: 5, chunks: 2000 });
    const fast = plan(input, { kind: "time" }, { strategy: "fastest-source" }).assignment;
    const rr = plan(input, { kind: "time" }, { strategy: "round-robin" }).assignment;
    input.holders.forEach((m, i) => {
      const holders = [0, 1, 2, 3, 4].filter((s) => (m >>> s) & 1);
      const fastest = Math.max(...holders.map((s) => input.sites[s]!.bandwidth));
      expect(input.sites[fast[i]!]!.bandwidth).toBe(fastest);
      if (i > 0) {
        // round-robin: no holder strictly between the previous chunk's site and this one.
        for (let s = (rr[i - 1]! + 1) % 5; s !== rr[i]; s = (s + 1) % 5) expect(holders).not.toContain(s);
      }
    });
    const full = { ...input, holders: input.holders.map((m) => m | 0b00110) };
    const single = plan(full, { kind: "time" }, { strategy: "single-site" });
    const best = [1, 2].sort((a, b) => input.sites[b]!.bandwidth - input.sites[a]!.bandwidth)[0]!;
    expect(new Set(single.assignment)).toEqual(new Set([best]));
  });

  it("random is deterministic for a seed and differs between seeds", () => {
    const input = randomInstance(9, { sites: 8, chunks: 5000 });
    const a = plan(input, { kind: "time" }, { strategy: "random", seed: 42 }).assignment;
    const b = plan(input, { kind: "time" }, { strategy: "random", seed: 42 }).assignment;
    const c = plan(input, { kind: "time" }, { strategy: "random", seed: 43 }).assignment;
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
    // Roughly uniform over the holders: each site gets a fair share of the chunks it holds.
    const held = new Array(8).fill(0);
    const got = new Array(8).fill(0);
    input.holders.forEach((m, i) => {
      for (let s = 0; s < 8; s++) if ((m >>> s) & 1) held[s] += 1 / popcount(m);
      got[a[i]!]++;
    });
    for (let s = 0; s < 8; s++) expect(Math.abs(got[s] - held[s])).toBeLessThan(5 * Math.sqrt(held[s]) + 5);
  });

  it("single-site fails clearly when no site holds everything", () => {
    const input = randomInstance(10, { sites: 4, chunks: 100 });
    input.holders[0] = 1;
    input.holders[1] = 2;
    expect(() => plan(input, { kind: "time" }, { strategy: "single-site" })).toThrow(NitroError);
    expect(() => plan(input, { kind: "time" }, { strategy: "single-site" })).toThrow(/no single site holds/);
  });

  it("are never faster than the optimal plan on instances of a hundred chunks and more", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const input = randomInstance(seed, {
        sites: 2 + (seed % 9),
        chunks: 100 + 50 * seed,
        rtt: seed % 2 === 0,
      });
      input.holders.forEach((m, i) => (input.holders[i] = m | (1 << (seed % input.sites.length))));
      const best = plan(input, { kind: "time" }, { slack: 0 }).makespan;
      const withSlack = plan(input).makespan;
      for (const strategy of BASELINES) {
        const p = plan(input, { kind: "time" }, { strategy, seed });
        expect(best, `seed ${seed} ${strategy}`).toBeLessThanOrEqual(p.makespan * (1 + 1e-12));
        expect(withSlack, `seed ${seed} ${strategy}`).toBeLessThanOrEqual(p.makespan * 1.01 + 1e-12);
        expect(p.strategy).toBe(strategy);
        expect(p.fractional).toBeNull();
      }
    }
  });

  // The guarantee behind it: optimal <= fractional + roundingBound <= any plan + roundingBound.
  // With a handful of chunks a lucky baseline can land inside that margin (rarely: 2 in 6000).
  it("are at most the rounding bound faster on tiny instances", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const input = randomInstance(seed, {
        sites: 2 + (seed % 5),
        chunks: 2 + (seed % 30),
        minSize: 1000,
        maxSize: 9000,
        rtt: seed % 2 === 0,
      });
      const p = plan(input, { kind: "time" }, { slack: 0 });
      for (const strategy of ["random", "round-robin", "fastest-source"] as const) {
        const q = plan(input, { kind: "time" }, { strategy, seed });
        expect(p.makespan, `seed ${seed} ${strategy}`).toBeLessThanOrEqual(
          q.makespan + p.roundingBound + 1e-12,
        );
      }
    }
  });

  it("leave chunks without holder unassigned", () => {
    const input = randomInstance(11, { sites: 3, chunks: 500, orphans: 0.1 });
    for (const strategy of ["random", "round-robin", "fastest-source"] as const) {
      const p = plan(input, { kind: "time" }, { strategy });
      input.holders.forEach((m, i) => expect(p.assignment[i] === NO_SITE).toBe(m === 0));
    }
  });
});

function popcount(m: number): number {
  let c = 0;
  for (; m; m &= m - 1) c++;
  return c;
}
