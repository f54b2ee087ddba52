import { describe, expect, it } from "vitest";
import type { Objective, Strategy } from "../../src/plan/types.js";
import { mayHedge, maySteal } from "../../src/transfer/steal-policy.js";

const plan = (objective: Objective, strategy: Strategy = "optimal") => ({ objective, strategy });
const dearer = { thiefPrice: 0.09, victimPrice: 0.02, victimFinish: 10 };
const cheaper = { thiefPrice: 0.01, victimPrice: 0.02, victimFinish: 10 };

describe("maySteal", () => {
  it("never lets a baseline steal, whatever the prices", () => {
    for (const s of ["random", "round-robin", "fastest-source", "single-site"] as const)
      expect(maySteal(plan({ kind: "time" }, s), cheaper)).toBe(false);
  });

  it("time: steals at any price", () => {
    expect(maySteal(plan({ kind: "time" }), dearer)).toBe(true);
  });

  it("cost: steals only from a site at least as dear", () => {
    expect(maySteal(plan({ kind: "cost" }), dearer)).toBe(false);
    expect(maySteal(plan({ kind: "cost" }), cheaper)).toBe(true);
    expect(maySteal(plan({ kind: "cost" }), { ...dearer, thiefPrice: 0.02 })).toBe(true);
  });

  it("deadline: dearer only when the planned site would miss the deadline", () => {
    expect(maySteal(plan({ kind: "deadline", seconds: 20 }), dearer)).toBe(false);
    expect(maySteal(plan({ kind: "deadline", seconds: 5 }), dearer)).toBe(true);
    expect(maySteal(plan({ kind: "deadline", seconds: 20 }), cheaper)).toBe(true);
  });
});

describe("mayHedge", () => {
  it("asks for chunks twice only for the time objective of the optimal plan", () => {
    expect(mayHedge(plan({ kind: "time" }))).toBe(true);
    expect(mayHedge(plan({ kind: "cost" }))).toBe(false);
    expect(mayHedge(plan({ kind: "deadline", seconds: 5 }))).toBe(false);
    for (const s of ["random", "round-robin", "fastest-source", "single-site"] as const)
      expect(mayHedge(plan({ kind: "time" }, s))).toBe(false);
  });
});
