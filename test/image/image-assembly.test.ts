import { blake3 } from "@napi-rs/blake-hash";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { chunkerParams } from "../../src/chunk/chunker.js";
import { ImageAssembly } from "../../src/image/image-assembly.js";
import { recipeDigest } from "../../src/store/recipe.js";
import { ENTRY_BYTES, ZERO_ID, type Recipe } from "../../src/store/types.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";

/** A recipe of the given chunks (undefined: a zero run of 1000 bytes), in order. */
function recipeOf(parts: Array<Buffer | undefined>): Recipe {
  const entries = Buffer.alloc(parts.length * ENTRY_BYTES);
  let size = 0;
  parts.forEach((p, i) => {
    (p ? blake3(p) : ZERO_ID).copy(entries, i * ENTRY_BYTES);
    entries.writeUInt32LE(p?.length ?? 1000, i * ENTRY_BYTES + 32);
    size += p?.length ?? 1000;
  });
  return {
    name: "img",
    size,
    chunker: chunkerParams("fastcdc", 64 * 1024),
    digest: recipeDigest(size, entries),
    created: new Date(0).toISOString(),
    entries,
  } as unknown as Recipe;
}

describe("ImageAssembly", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const [a, b, c] = ["a", "b", "c"].map((s) => pseudoRandom(s, 3000 + s.charCodeAt(0)));

  it("writes chunks arriving in any order at every offset, holes left for zero runs", () => {
    const parts = [a, b, undefined, a, c, b];
    const out = join(t.dir, "one.img");
    const img = new ImageAssembly(recipeOf(parts), out, false);
    const chunk = (d: Buffer) => ({ id: blake3(d), length: d.length });
    img.placeFrame([chunk(c!), chunk(a!)], Buffer.concat([c!, a!]));
    expect(img.missing).toBe(1);
    img.placeFrame([chunk(a!), chunk(b!)], Buffer.concat([a!, b!]));
    expect(img.missing).toBe(0);
    img.finish();
    const want = Buffer.concat(parts.map((p) => p ?? Buffer.alloc(1000)));
    expect(readFileSync(out).equals(want)).toBe(true);
  });

  it("refuses to finish while a chunk is missing, and leaves no file behind", () => {
    const out = join(t.dir, "two.img");
    const img = new ImageAssembly(recipeOf([a, b]), out, false);
    expect(img.place(blake3(a!), a!)).toBe(true);
    expect(img.place(blake3(a!), a!)).toBe(false);
    expect(() => img.finish()).toThrow(/1 chunks were never written/);
    img.abort();
    expect(existsSync(out)).toBe(false);
  });

  it("counts as ready the contiguous filled prefix, zero runs included, whatever the order of arrival", () => {
    const parts = [a, undefined, b, a, undefined, c];
    const lengths = parts.map((p) => p?.length ?? 1000);
    const upTo = (n: number) => lengths.slice(0, n).reduce((x, y) => x + y, 0);
    const img = new ImageAssembly(recipeOf(parts), join(t.dir, "three.img"), false);
    const chunk = (d: Buffer) => ({ id: blake3(d), length: d.length });
    expect(img.readyBytes()).toBe(0);
    img.place(blake3(c!), c!);
    expect(img.readyBytes()).toBe(0);
    // a is at entries 0 and 3: the prefix runs through the zero run up to b.
    img.placeFrame([chunk(a!)], a!);
    expect(img.readyBytes()).toBe(upTo(2));
    img.placeFrame([chunk(b!)], b!);
    expect(img.readyBytes()).toBe(upTo(6));
    img.markComplete();
    expect(img.complete).toBe(true);
    img.abort();
    expect(img.aborted).toBe(false);
  });
});
