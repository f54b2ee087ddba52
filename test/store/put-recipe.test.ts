import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalSite } from "../../src/site/local.js";
import { Store } from "../../src/store/store.js";
import type { Recipe } from "../../src/store/types.js";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import { makeChunks, rawStore, recipeOf, storeImages } from "./fixtures.js";

describe("Store.putRecipe", () => {
  const t = tempDir("nitro-put-recipe-");
  let store: Store;
  const chunks = makeChunks("put-recipe", 6);
  let complete: Recipe;

  beforeAll(async () => {
    store = rawStore(t.dir);
    complete = recipeOf(store, "img", chunks.slice(0, 4));
    await storeImages(store, chunks, [complete]);
  });
  afterAll(async () => {
    await store.close();
    t.cleanup();
  });

  it("refuses an invalid name (USAGE) and a digest that does not match the entries (CORRUPT)", () => {
    const bad = recipeOf(store, "x", chunks.slice(0, 2));
    expect(() => store.putRecipe({ ...bad, name: "../evil" })).toThrow(
      expect.objectContaining({ exitCode: Exit.USAGE }),
    );
    expect(() => store.putRecipe({ ...bad, digest: "00".repeat(32) })).toThrow(
      expect.objectContaining({ exitCode: Exit.CORRUPT }),
    );
    expect(() => store.putRecipe({ ...bad, size: bad.size + 1 })).toThrow(
      expect.objectContaining({ exitCode: Exit.CORRUPT }),
    );
    expect(store.getRecipe("x")).toBeUndefined();
  });

  it("takes the same recipe again as a no-op", () => {
    store.putRecipe({ ...complete, created: "2000-01-01T00:00:00.000Z" });
    expect(store.getRecipe("img")!.created).toBe(complete.created);
  });

  it("refuses (EXISTS) another recipe under the name of a complete image unless forced", async () => {
    const other = recipeOf(store, "img", chunks.slice(2, 6));
    expect(() => store.putRecipe(other)).toThrow(expect.objectContaining({ exitCode: Exit.EXISTS }));
    expect(store.getRecipe("img")!.digest).toBe(complete.digest);
    // The site passes the option through.
    const site = new LocalSite("s", store);
    await expect(site.putRecipe(other)).rejects.toMatchObject({ exitCode: Exit.EXISTS });
    await site.putRecipe(other, { force: true });
    expect(store.getRecipe("img")!.digest).toBe(other.digest);
    expect(store.listRecipes().find((s) => s.name === "img")!.digest).toBe(other.digest);
    store.putRecipe(complete, { force: true });
  });

  it("replaces the recipe of an incomplete (announced) image without force", () => {
    const announced = recipeOf(store, "far", makeChunks("elsewhere", 2));
    store.putRecipe(announced);
    expect(store.missingChunks(announced)).toBe(2);
    const local = recipeOf(store, "far", chunks.slice(0, 1));
    store.putRecipe(local);
    expect(store.getRecipe("far")!.digest).toBe(local.digest);
  });

  it("is also checked when a writer commits a recipe", async () => {
    const writer = await store.writer();
    try {
      const r = recipeOf(store, "w", chunks.slice(0, 1));
      await expect(writer.commit({ ...r, digest: "11".repeat(32) })).rejects.toMatchObject({
        exitCode: Exit.CORRUPT,
      });
    } finally {
      writer.close();
    }
    expect(store.getRecipe("w")).toBeUndefined();
  });
});
