import { afterAll, describe, expect, it } from "vitest";
import { uniqueChunks } from "../../src/store/recipe.js";
import type { PutRecipeOptions } from "../../src/site/site.js";
import { ForwardingSite } from "../../src/site/wrapper.js";
import type { Recipe } from "../../src/store/types.js";
import { pushImage } from "../../src/transfer/push.js";
import { tempDir } from "../helpers/data.js";
import { addTestImage, localSite, newStore } from "../helpers/sites.js";

describe("push to local sites", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("sends exactly the chunks a site lacks, then the recipe; a second push sends nothing", async () => {
    const src = newStore(t.dir, "src");
    const lyon = newStore(t.dir, "lyon");
    const { recipe } = await addTestImage(src, t.dir, "img");
    const { ids } = uniqueChunks(recipe);

    const first = await pushImage(src, recipe, localSite(lyon));
    expect(first.sentChunks).toBe(ids.length);
    expect(first.present).toBe(0);
    expect(first.wireBytes).toBeGreaterThan(0);
    expect(lyon.has(ids).every(Boolean)).toBe(true);
    expect(lyon.index.counters().chunks).toBe(ids.length);
    expect(lyon.getRecipe("img")?.digest).toBe(recipe.digest);
    expect(lyon.check(true).errors).toEqual([]);

    const again = await pushImage(src, recipe, localSite(lyon));
    expect(again.sentChunks).toBe(0);
    expect(again.wireBytes).toBe(0);
    expect(again.present).toBe(ids.length);
    await Promise.all([src.close(), lyon.close()]);
  });

  it("sends only what differs for a related image", async () => {
    const src = newStore(t.dir, "src2");
    const paris = newStore(t.dir, "paris");
    const a = await addTestImage(src, t.dir, "a", "shared");
    await pushImage(src, a.recipe, localSite(paris));
    const b = await addTestImage(src, t.dir, "b", "shared"); // same bytes, another name
    const r = await pushImage(src, b.recipe, localSite(paris));
    expect(r.sentChunks).toBe(0);
    expect(
      paris
        .listRecipes()
        .map((x) => x.name)
        .sort(),
    ).toEqual(["a", "b"]);
    await Promise.all([src.close(), paris.close()]);
  });

  it("passes --force with the recipe, and no force by default", async () => {
    const src = newStore(t.dir, "src3");
    const nice = newStore(t.dir, "nice");
    const { recipe } = await addTestImage(src, t.dir, "img3");
    const forces: Array<boolean | undefined> = [];
    class RecordingSite extends ForwardingSite {
      override putRecipe(r: Recipe, opts?: PutRecipeOptions): Promise<void> {
        forces.push(opts?.force);
        return super.putRecipe(r, opts);
      }
    }
    await pushImage(src, recipe, new RecordingSite(localSite(nice)));
    await pushImage(src, recipe, new RecordingSite(localSite(nice)), { force: true });
    expect(forces).toEqual([false, true]);
    expect(nice.getRecipe("img3")?.digest).toBe(recipe.digest);
    await Promise.all([src.close(), nice.close()]);
  });
});
