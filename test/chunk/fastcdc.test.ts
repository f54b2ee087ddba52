import { blake3 } from "@napi-rs/blake-hash";
import { describe, expect, it } from "vitest";
import { chunkerParams, cutFunction } from "../../src/chunk/chunker.js";
import { pseudoRandom } from "../helpers/data.js";

const params = chunkerParams("fastcdc", 64 * 1024);

function chunkIds(data: Buffer): string[] {
  const cut = cutFunction(params);
  const ids: string[] = [];
  for (let s = 0; s < data.length;) {
    const e = cut(data, s, data.length);
    ids.push(blake3(data.subarray(s, e)).toString("hex"));
    s = e;
  }
  return ids;
}

describe("FastCDC boundaries", () => {
  const data = pseudoRandom("cdc", 8 * 1024 * 1024);

  it("keeps chunk sizes within min and max, averaging near the target", () => {
    const cut = cutFunction(params);
    const sizes: number[] = [];
    for (let s = 0; s < data.length;) {
      const e = cut(data, s, data.length);
      sizes.push(e - s);
      s = e;
    }
    for (const sz of sizes.slice(0, -1)) {
      expect(sz).toBeGreaterThanOrEqual(params.min);
      expect(sz).toBeLessThanOrEqual(params.max);
    }
    const avg = data.length / sizes.length;
    expect(avg).toBeGreaterThan(params.avg * 0.6);
    expect(avg).toBeLessThan(params.avg * 1.6);
  });

  it("re-uses almost every chunk after an insertion near the start", () => {
    const shifted = Buffer.concat([
      data.subarray(0, 100_000),
      Buffer.from("inserted bytes!"),
      data.subarray(100_000),
    ]);
    const before = new Set(chunkIds(data));
    const after = chunkIds(shifted);
    const reused = after.filter((id) => before.has(id)).length;
    expect(reused).toBeGreaterThanOrEqual(after.length - 3);
  });

  it("re-uses no chunk after the insertion with fixed-size chunks (why CDC exists)", () => {
    const cut = cutFunction(chunkerParams("fixed", 64 * 1024));
    const ids = (b: Buffer) => {
      const out = new Set<string>();
      for (let s = 0; s < b.length;) {
        const e = cut(b, s, b.length);
        out.add(blake3(b.subarray(s, e)).toString("hex"));
        s = e;
      }
      return out;
    };
    const shifted = Buffer.concat([data.subarray(0, 100_000), Buffer.from("x"), data.subarray(100_000)]);
    const before = ids(data);
    const reused = [...ids(shifted)].filter((id) => before.has(id)).length;
    expect(reused).toBe(1); // only the first chunk, before the insertion
  });

  it("cuts the same way whatever the read size (window of max bytes is enough)", () => {
    const cut = cutFunction(params);
    const whole: number[] = [];
    for (let s = 0; s < data.length;) whole.push((s = cut(data, s, data.length)));
    const windowed: number[] = [];
    for (let s = 0; s < data.length;)
      windowed.push((s = cut(data, s, Math.min(data.length, s + params.max))));
    expect(windowed).toEqual(whole);
  });
});
