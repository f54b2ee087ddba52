import { afterAll, describe, expect, it } from "vitest";
import { isWriteSite, requireWriteSite, type PutRecipeOptions } from "../../src/site/site.js";
import { ThrottledSite } from "../../src/site/throttled.js";
import { ForwardingReadSite, ForwardingSite } from "../../src/site/wrapper.js";
import { uniqueChunks } from "../../src/store/recipe.js";
import type { Frame, Recipe } from "../../src/store/types.js";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import { addTestImage, localSite, newStore } from "../helpers/sites.js";

async function* frames(gen: Generator<Frame>): AsyncGenerator<Frame> {
  yield* gen;
}

describe("site wrappers on the forwarding base", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("a read-only view forwards reads and offers no write", async () => {
    const store = newStore(t.dir, "ro");
    const { recipe } = await addTestImage(store, t.dir, "img");
    const view = new ForwardingReadSite(localSite(store));
    expect(view.name).toBe("ro");
    expect(isWriteSite(view)).toBe(false);
    expect(() => requireWriteSite(view)).toThrow(expect.objectContaining({ exitCode: Exit.FAILURE }));
    expect(() => requireWriteSite(view)).toThrow("site ro is read-only");
    expect((await view.getRecipe("img"))?.digest).toBe(recipe.digest);
    const { ids } = uniqueChunks(recipe);
    expect((await view.has(ids)).every(Boolean)).toBe(true);
    let chunks = 0;
    for await (const f of view.getFrames(ids)) chunks += f.chunks.length;
    expect(chunks).toBe(ids.length);
    await view.close();
  });

  it("the throttle passes putRecipe's options through and paces frames", async () => {
    const src = newStore(t.dir, "src");
    const dst = newStore(t.dir, "dst");
    const { recipe } = await addTestImage(src, t.dir, "img2");
    const seen: Array<PutRecipeOptions | undefined> = [];
    class Recording extends ForwardingSite {
      override putRecipe(r: Recipe, opts?: PutRecipeOptions): Promise<void> {
        seen.push(opts);
        return super.putRecipe(r, opts);
      }
    }
    const rate = 20e6;
    const site = new ThrottledSite(new Recording(localSite(dst)), rate);
    expect(isWriteSite(site)).toBe(true);
    const { ids } = uniqueChunks(recipe);
    const t0 = performance.now();
    const res = await site.putFrames(frames(src.readFrames(ids)));
    const seconds = (performance.now() - t0) / 1000;
    await site.putRecipe(recipe, { force: true });
    expect(seen).toEqual([{ force: true }]);
    expect(res.chunks).toBe(ids.length);
    // Every frame waits for its share of the link.
    expect(seconds).toBeGreaterThanOrEqual((0.9 * res.wireBytes) / rate);
    expect(dst.getRecipe("img2")?.digest).toBe(recipe.digest);
    await Promise.all([src.close(), site.close()]);
  });
});
