import { blake3 } from "@napi-rs/blake-hash";
import { describe, expect, it } from "vitest";
import { decodePackIndex, encodePackIndex, type PackEntry } from "../../../src/site/s3/pack-index.js";
import { Exit } from "../../../src/util/errors.js";

const entries: PackEntry[] = [
  { id: blake3(Buffer.from("a")), frameOffset: 0, frameLength: 5000, innerOffset: 0, rawLength: 3000 },
  { id: blake3(Buffer.from("b")), frameOffset: 0, frameLength: 5000, innerOffset: 3000, rawLength: 4000 },
  // Offsets past 4 GiB survive (u48).
  {
    id: blake3(Buffer.from("c")),
    frameOffset: 2 ** 40 + 7,
    frameLength: 16_777_216,
    innerOffset: 0,
    rawLength: 65_536,
  },
];

describe("pack index objects", () => {
  it("round trip every field", () => {
    expect(decodePackIndex(encodePackIndex(entries), "t")).toEqual(entries);
    expect(decodePackIndex(encodePackIndex([]), "t")).toEqual([]);
  });

  it("a flipped byte, a truncated object or another object is CORRUPT", () => {
    const good = encodePackIndex(entries);
    const flipped = Buffer.from(good);
    flipped[20]! ^= 1;
    for (const bad of [
      flipped,
      good.subarray(0, good.length - 1),
      Buffer.from("not an index at all, really"),
    ])
      expect(() => decodePackIndex(bad, "s3 object index/x.idx")).toThrow(
        expect.objectContaining({ exitCode: Exit.CORRUPT, message: expect.stringContaining("index/x.idx") }),
      );
  });
});
