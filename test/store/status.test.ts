import { blake3 } from "@napi-rs/blake-hash";
import { describe, expect, it } from "vitest";
import { statusNames, statusOf } from "../../src/store/status.js";
import { recipeDigest } from "../../src/store/recipe.js";
import { ENTRY_BYTES, ZERO_ID, type ChunkId, type Recipe } from "../../src/store/types.js";
import { Exit } from "../../src/util/errors.js";

/** A recipe of (id, length) entries; ZERO_ID entries are zero runs. */
function recipe(entries: Array<[ChunkId, number]>): Recipe {
  const buf = Buffer.alloc(entries.length * ENTRY_BYTES);
  entries.forEach(([id, length], i) => {
    id.copy(buf, i * ENTRY_BYTES);
    buf.writeUInt32LE(length, i * ENTRY_BYTES + 32);
  });
  const size = entries.reduce((s, [, n]) => s + n, 0);
  return {
    name: "img.raw",
    size,
    chunker: { kind: "fastcdc", min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 },
    digest: recipeDigest(size, buf),
    created: "2026-12-02T00:00:00.000Z",
    entries: buf,
  };
}

describe("statusOf: an image's status from its recipe and any has-function", () => {
  const [a, b] = [blake3(Buffer.from("a")), blake3(Buffer.from("b"))];
  const r = recipe([
    [a, 100],
    [ZERO_ID, 1000],
    [b, 50],
    [a, 100],
  ]);

  it("counts data bytes (not zero runs), present bytes per entry, and asks once per chunk", () => {
    const asked: string[] = [];
    const s = statusOf("img.raw", r, (id) => {
      asked.push(id.toString("hex"));
      return id.equals(a);
    });
    expect(s).toEqual({
      name: "img.raw",
      recipe: true,
      size: 1250,
      dataBytes: 250,
      presentBytes: 200,
      complete: false,
    });
    expect(asked).toEqual([a.toString("hex"), b.toString("hex")]);
    expect(statusOf("img.raw", r, () => true)).toMatchObject({ presentBytes: 250, complete: true });
  });

  it("without a recipe nothing else is known", () => {
    expect(statusOf("gone.raw", undefined, () => true)).toEqual({
      name: "gone.raw",
      recipe: false,
      size: 0,
      dataBytes: 0,
      presentBytes: 0,
      complete: false,
    });
  });

  it("statusNames checks and deduplicates the names asked for; undefined means every image", () => {
    expect(statusNames(["b.raw", "a.raw", "b.raw"])).toEqual(["b.raw", "a.raw"]);
    expect(statusNames(undefined)).toBeUndefined();
    expect(() => statusNames(["../x"])).toThrow(expect.objectContaining({ exitCode: Exit.USAGE }));
  });
});
