import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parsePart, partOf } from "../../src/transfer/replicate-part.js";
import { Exit, type NitroError } from "../../src/util/errors.js";

describe("scatter parts", () => {
  it("parses I/K and refuses anything else", () => {
    expect(parsePart("2/3")).toEqual({ index: 2, count: 3 });
    for (const bad of ["3/3", "1/0", "-1/2", "a/b", "1", "1/5000"]) {
      let code: number | undefined;
      try {
        parsePart(bad);
      } catch (err) {
        code = (err as NitroError).exitCode;
      }
      expect(code, bad).toBe(Exit.USAGE);
    }
  });

  it("splits chunk ids into disjoint, even parts", () => {
    const ids = Array.from({ length: 3000 }, () => randomBytes(32));
    const counts = [0, 0, 0];
    for (const id of ids) counts[partOf(id, 3)]!++;
    expect(counts.reduce((a, b) => a + b)).toBe(3000);
    for (const c of counts) expect(c).toBeGreaterThan(850);
    // The same id always falls in the same part.
    expect(ids.every((id) => partOf(id, 3) === partOf(Buffer.from(id), 3))).toBe(true);
  });
});
