import { describe, expect, it } from "vitest";
import { earliestFinish, replanQueues, type SourceNow } from "../../src/transfer/replan.js";

const MB = 1e6;
const src = (name: string, rate: number, busy = 0, cost = 0): SourceNow => ({ name, rate, busy, cost });
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const bytesOf = (q: readonly number[], sizes: ArrayLike<number>) => q.reduce((n, k) => n + sizes[k]!, 0);

describe("replanQueues", () => {
  // 100 chunks of 1 MB, all held by both sources; the first plan split them evenly.
  const sizes = new Float64Array(100).fill(MB);
  const both = new Uint32Array(100).fill(0b11);
  const even = [range(0, 50), range(50, 100)];

  it("moves queued chunks from a source measured slower than planned to the faster one", () => {
    const r = replanQueues(even, sizes, both, [src("a", 10 * MB), src("b", 30 * MB)])!;
    expect(r).toBeDefined();
    // 100 MB over 40 MB/s: 2.5 s, with a 3:1 split (25 / 75 chunks) instead of 5 s for a's half.
    expect(r.before).toBeCloseTo(5, 5);
    expect(r.after).toBeCloseTo(2.5, 1);
    expect(r.queues[0]!.length).toBeGreaterThanOrEqual(24);
    expect(r.queues[0]!.length).toBeLessThanOrEqual(26);
    expect(r.moved).toBe(50 - r.queues[0]!.length);
    expect(r.movedBytes).toBe(r.moved * MB);
    // Every chunk is queued once, each queue in chunk order (a frame's chunks stay together).
    expect([...r.queues[0]!, ...r.queues[1]!].sort((x, y) => x - y)).toEqual(range(0, 100));
    for (const q of r.queues) expect(q).toEqual([...q].sort((x, y) => x - y));
  });

  it("counts what a source has in flight: a busy fast source gets less", () => {
    const idle = replanQueues(even, sizes, both, [src("a", 10 * MB), src("b", 30 * MB)])!;
    const busy = replanQueues(even, sizes, both, [src("a", 10 * MB), src("b", 30 * MB, 1)])!;
    expect(bytesOf(busy.queues[1]!, sizes)).toBeLessThan(bytesOf(idle.queues[1]!, sizes));
  });

  it("keeps every chunk at a source that holds it", () => {
    // Chunks 0-49 are held by a only; the rest by both.
    const holders = Uint32Array.from(range(0, 100), (k) => (k < 50 ? 0b01 : 0b11));
    const r = replanQueues([range(0, 60), range(60, 100)], sizes, holders, [
      src("a", 1 * MB),
      src("b", 100 * MB),
    ])!;
    expect(r.queues[0]).toEqual(range(0, 50));
    expect(r.queues[1]).toEqual(range(50, 100));
  });

  it("leaves the queues alone when the rates match the plan, or nothing is queued", () => {
    expect(replanQueues(even, sizes, both, [src("a", 20 * MB), src("b", 20 * MB)])).toBeUndefined();
    expect(replanQueues([[], []], sizes, both, [src("a", 1 * MB), src("b", 20 * MB)])).toBeUndefined();
  });

  it("gives a dropped source (rate 0) nothing, and its chunks to the holders left", () => {
    const r = replanQueues(even, sizes, both, [src("a", 0), src("b", 20 * MB)])!;
    expect(r.queues[0]).toEqual([]);
    expect(r.queues[1]).toEqual(range(0, 100));
    expect(r.before).toBe(Infinity);
  });
});

describe("earliestFinish", () => {
  it("spreads the bytes over the sources from the moment each is free", () => {
    // 10 MB/s free now, 30 MB/s free at 1 s: 10 MB by 1 s, the other 90 MB at 40 MB/s, 3.25 s.
    expect(earliestFinish(100 * MB, [src("a", 10 * MB), src("b", 30 * MB, 1)])).toBeCloseTo(3.25, 9);
    // Done before the busy one is free: it takes no part.
    expect(earliestFinish(5 * MB, [src("a", 10 * MB), src("b", 30 * MB, 1)])).toBeCloseTo(0.5, 9);
    // A dropped source (rate 0) counts for nothing; none left: never.
    expect(earliestFinish(10 * MB, [src("a", 0), src("b", 10 * MB, 2)])).toBeCloseTo(3, 9);
    expect(earliestFinish(MB, [src("a", 0)])).toBe(Infinity);
  });

  it("is never later than what a re-plan achieves, on random instances", () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let trial = 0; trial < 200; trial++) {
      const n = 2 + Math.floor(rnd() * 5);
      const sources = Array.from({ length: n }, (_, s) => src(`s${s}`, (1 + rnd() * 50) * MB, rnd() * 2));
      const sizes = Float64Array.from({ length: 40 }, () => (0.1 + rnd()) * MB);
      const holders = Uint32Array.from(sizes, () => 1 + Math.floor(rnd() * (2 ** n - 1)));
      // Everything queued at source 0 (which may not even hold it): a re-plan is all but certain.
      const queues = sources.map((_, s) => (s === 0 ? range(0, 40) : []));
      const r = replanQueues(queues, sizes, holders, sources);
      const bound = earliestFinish(bytesOf(range(0, 40), sizes), sources);
      if (r) expect(r.after).toBeGreaterThanOrEqual(bound * (1 - 1e-9));
    }
  });

  it("spares the planner when the queues are on course, and still re-plans when they are not", () => {
    const sizes = new Float64Array(100).fill(MB);
    const both = new Uint32Array(100).fill(0b11);
    const sources = [src("a", 10 * MB), src("b", 30 * MB)];
    expect(replanQueues([range(0, 25), range(25, 100)], sizes, both, sources)).toBeUndefined();
    expect(replanQueues([range(0, 50), range(50, 100)], sizes, both, sources)).toBeDefined();
  });
});
