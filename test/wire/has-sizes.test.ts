import { describe, expect, it } from "vitest";
import { frameShare, type FrameShares } from "../../src/store/types.js";
import { decodeSizes, encodeSizes } from "../../src/wire/messages.js";
import { ACCEPTS, MAX_BODY, Limits, Msg } from "../../src/wire/protocol.js";

/** FrameShares as a store answers: per chunk (undefined: absent) its frame, sizes from the table. */
function shares(
  refs: (number | undefined)[],
  lengths: number[],
  stored: number[],
  raw: number[],
): FrameShares {
  const sizes = Uint32Array.from(refs, (f, i) =>
    f === undefined ? 0 : frameShare(lengths[i]!, stored[f]!, raw[f]!),
  );
  const frames = Uint32Array.from(refs, (f) => f ?? 0);
  return { sizes, frames, frameStored: Uint32Array.from(stored), frameRaw: Uint32Array.from(raw) };
}

describe("HAS_SIZES", () => {
  it("the asker works out the store's own sizes and frames from the frames' bytes and the raw lengths", () => {
    // Absent chunks, a frame met again after another (a negative step), a stored-raw frame.
    const lengths = [9, 1000, 3000, 50, 9, 2500, 70_000];
    const s = shares([undefined, 0, 0, 1, undefined, 0, 2], lengths, [1000, 86, 70_000], [6500, 50, 70_000]);
    expect(decodeSizes(encodeSizes(s), lengths)).toEqual({ sizes: s.sizes, frames: s.frames });
    expect([...s.sizes]).toEqual([0, 154 + 36, 462 + 36, 86 + 36, 0, 385 + 36, 70_000 + 36]);
  });

  it("takes about a byte a chunk: the answer about a 5,000-chunk image fits in TCP's first window", () => {
    const n = 5000;
    const lengths = Array.from({ length: n }, (_, i) => 60_000 + i);
    const refs = lengths.map((_, i) => (i % 7 === 3 ? undefined : Math.floor(i / 25)));
    const frames = n / 25;
    const s = shares(
      refs,
      lengths,
      new Array<number>(frames).fill(600_000),
      new Array<number>(frames).fill(2e6),
    );
    const body = encodeSizes(s);
    expect(body.length).toBeLessThan(10 * 1448);
    expect(decodeSizes(body, lengths)).toEqual({ sizes: s.sizes, frames: s.frames });
  });

  it("a reply that does not fit the ids asked is a protocol error", () => {
    const lengths = [100, 200, 300];
    const body = encodeSizes(shares([0, 1, 0], lengths, [50, 60], [100, 200]));
    expect(() => decodeSizes(body, [100, 200, 300, 400])).toThrow(/HAS_SIZES reply for 4 ids: truncated/);
    expect(() => decodeSizes(body, [100, 200])).toThrow(/1 bytes left over/);
    expect(() => decodeSizes(body.subarray(0, 3), lengths)).toThrow(/truncated/);
    // A frame count beyond the ids, a reference beyond the frames, an endless varint.
    const bad = Buffer.from(body);
    bad.writeUInt32LE(4, 0);
    expect(() => decodeSizes(bad, lengths)).toThrow(/4 frames/);
    const far = Buffer.concat([body.subarray(0, 20), Buffer.from([1, 5, 0])]);
    expect(() => decodeSizes(far, lengths)).toThrow(/frame 2 of 2/);
    const endless = Buffer.concat([body.subarray(0, 20), Buffer.alloc(8, 0xff)]);
    expect(() => decodeSizes(endless, lengths)).toThrow(/varint too long/);
  });

  it("is a request the server accepts and a reply the client accepts, bounded like HAS", () => {
    expect(ACCEPTS.server.has(Msg.HAS_SIZES)).toBe(true);
    expect(ACCEPTS.client.has(Msg.HAS_SIZES_REPLY)).toBe(true);
    expect(MAX_BODY[Msg.HAS_SIZES]).toBe(MAX_BODY[Msg.HAS]);
    // The largest answer: every id in a frame of its own, met in reverse order (the widest steps).
    const n = Limits.IDS;
    const refs = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? i : n - i));
    const lengths = new Array<number>(n).fill(1);
    const body = encodeSizes(
      shares(refs, lengths, new Array<number>(n).fill(1), new Array<number>(n).fill(1)),
    );
    expect(body.length).toBeLessThanOrEqual(MAX_BODY[Msg.HAS_SIZES_REPLY]!);
  });
});
