import { describe, expect, it } from "vitest";
import { DIGEST_BLOCK, ImageDigest } from "../../src/image/digest.js";
import { pseudoRandom } from "../helpers/data.js";

describe("image digest", () => {
  it("is the same whether zeros come as holes or as bytes, at any split", () => {
    const data = pseudoRandom("d", 3 * DIGEST_BLOCK + 999);
    const zeroRun = 2 * DIGEST_BLOCK + 12345;
    const a = new ImageDigest();
    a.update(data.subarray(0, 1000));
    a.zeros(zeroRun);
    a.update(data.subarray(1000));
    const b = new ImageDigest();
    const whole = Buffer.concat([data.subarray(0, 1000), Buffer.alloc(zeroRun), data.subarray(1000)]);
    for (let o = 0; o < whole.length; o += 777_777) b.update(whole.subarray(o, o + 777_777));
    expect(a.hex()).toBe(b.hex());
  });

  it("changes when one byte changes", () => {
    const data = pseudoRandom("e", DIGEST_BLOCK + 5);
    const a = new ImageDigest();
    a.update(data);
    data[DIGEST_BLOCK + 2]! ^= 1;
    const b = new ImageDigest();
    b.update(data);
    expect(a.hex()).not.toBe(b.hex());
  });
});
