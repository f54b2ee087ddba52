import { describe, expect, it } from "vitest";
import { snapToFrames } from "../../src/transfer/frame-snap.js";

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("snapToFrames", () => {
  // Eight chunks of 1 byte held by sources a and b, which both store them as two frames of four.
  const sizes = new Float64Array(8).fill(1);
  const both = new Uint32Array(8).fill(0b11);
  const byFour = Uint32Array.from(range(0, 8), (k) => (k < 4 ? 0 : 1));

  it("gives a frame's minority chunks to the source asked for most of that frame", () => {
    // a has chunks 0-2 and 7, b has 3-6: frame 0 is split 3:1, frame 1 3:1 the other way.
    const queues = [
      [0, 1, 2, 7],
      [3, 4, 5, 6],
    ];
    expect(snapToFrames(queues, sizes, both, [byFour, byFour])).toBe(2);
    expect(queues).toEqual([range(0, 4), range(4, 8)]);
  });

  it("moves a chunk only to a source that holds it", () => {
    const holders = Uint32Array.from(range(0, 8), (k) => (k === 3 ? 0b10 : 0b11));
    const queues = [
      [0, 1, 2, 7],
      [3, 4, 5, 6],
    ];
    snapToFrames(queues, sizes, holders, [byFour, byFour]);
    // Chunk 3 stays at b, the only holder; chunk 7 joins its frame at b.
    expect(queues).toEqual([[0, 1, 2], range(3, 8)]);
  });

  it("goes by each source's own frames: where they differ, nothing is moved for nothing", () => {
    // a stores chunks in frames of four, b in frames of two: each is asked for whole frames of its own.
    const byTwo = Uint32Array.from(range(0, 8), (k) => k >> 1);
    const queues = [range(0, 4), range(4, 8)];
    expect(snapToFrames(queues, sizes, both, [byFour, byTwo])).toBe(0);
    expect(queues).toEqual([range(0, 4), range(4, 8)]);
  });

  it("leaves an even split alone (no source has most of the frame)", () => {
    const queues = [
      [0, 1, 4, 5],
      [2, 3, 6, 7],
    ];
    expect(snapToFrames(queues, sizes, both, [byFour, byFour])).toBe(0);
    expect(queues).toEqual([
      [0, 1, 4, 5],
      [2, 3, 6, 7],
    ]);
  });
});
