import { describe, expect, it } from "vitest";
import { replanQueues, type SourceNow } from "../../src/transfer/replan.js";

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
