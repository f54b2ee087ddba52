import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { LocalSite } from "../../src/site/local.js";
import { RemoteSite } from "../../src/site/remote.js";
import type { ReadSite } from "../../src/site/site.js";
import { uniqueChunks } from "../../src/store/recipe.js";
import type { ChunkId, Recipe, StoredSizes } from "../../src/store/types.js";
import { EarlyQuestions } from "../../src/transfer/early-questions.js";
import { encodeHello } from "../../src/wire/messages.js";
import { PROTOCOL_VERSION } from "../../src/wire/protocol.js";
import { serveSite } from "../../src/wire/server.js";
import { tempDir } from "../helpers/data.js";
import { addTestImage, newStore } from "../helpers/sites.js";

/** A site that knows `recipe` (or no image), answers every size 7 and counts what it is asked. */
function fakeSite(name: string, recipe?: Recipe) {
  const asked = { recipes: 0, sizes: [] as ChunkId[][] };
  const site = {
    name,
    getRecipe: () => (asked.recipes++, Promise.resolve(recipe)),
    storedSizes: (ids: ChunkId[]): Promise<StoredSizes> => {
      asked.sizes.push(ids);
      return Promise.resolve({
        sizes: new Uint32Array(ids.length).fill(7),
        frames: new Uint32Array(ids.length),
      });
    },
  } as unknown as ReadSite;
  return { site, asked };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe("EarlyQuestions", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("asks each site for the recipe when it connects, and for its holdings once any recipe is known; the pull's own questions get those answers", async () => {
    const store = newStore(t.dir, "origin");
    const { recipe } = await addTestImage(store, t.dir, "img");
    const other = (await addTestImage(store, t.dir, "other")).recipe;
    await store.close();
    // The destination holds the first chunk: it is not asked about.
    const lacked = (r: Recipe) => {
      const { ids, lengths } = uniqueChunks(r);
      return Promise.resolve({ ids: ids.slice(1), lengths: lengths.slice(1) });
    };
    const need = uniqueChunks(recipe).ids.slice(1);
    const needLengths = uniqueChunks(recipe).lengths.slice(1);
    const early = new EarlyQuestions("img", lacked);
    const a = fakeSite("a");
    const b = fakeSite("b", recipe);
    early.connected(a.site);
    early.connected(b.site);
    await settle();
    expect([a.asked.recipes, b.asked.recipes]).toEqual([1, 1]);
    expect(a.asked.sizes).toEqual([need]);
    expect(b.asked.sizes).toEqual([need]);
    // A site that connects later is asked both at once.
    const c = fakeSite("c", other);
    early.connected(c.site);
    await settle();
    expect(c.asked.sizes).toEqual([need]);

    // The pull's questions, on the wrapped sites: answered from what was asked, nothing asked again.
    const [wa, wb] = [early.wrap(a.site), early.wrap(b.site)];
    expect(await wa.getRecipe("img")).toBeUndefined();
    expect(await wb.getRecipe("img")).toBe(recipe);
    const copy = need.map((id) => Buffer.from(id));
    expect((await wa.storedSizes(copy, needLengths)).sizes.length).toBe(need.length);
    expect([a.asked.recipes, a.asked.sizes.length]).toEqual([1, 1]);
    // Each early answer serves once; other chunks are asked for.
    await wa.storedSizes(copy, needLengths);
    expect(a.asked.sizes.length).toBe(2);
    await early.wrap(b.site).storedSizes(need.slice(1), needLengths.slice(1));
    expect(b.asked.sizes.length).toBe(2);
  });

  it("asks about the destination's own recipe when it has one, whatever a site gives first", async () => {
    const store = newStore(t.dir, "origin2");
    const { recipe } = await addTestImage(store, t.dir, "img");
    const other = (await addTestImage(store, t.dir, "img-v2", "v2")).recipe;
    await store.close();
    const early = new EarlyQuestions("img", (r) => Promise.resolve(uniqueChunks(r)));
    early.known(recipe);
    const a = fakeSite("a", other);
    early.connected(a.site);
    await settle();
    expect(a.asked.sizes).toEqual([uniqueChunks(recipe).ids]);
  });

  it("a remote site takes these questions before its greeting; a greeting of another version fails them", async () => {
    const store = newStore(t.dir, "far");
    const { recipe } = await addTestImage(store, t.dir, "img");
    const up = new PassThrough();
    const down = new PassThrough();
    const remote = new RemoteSite("far", { input: down, output: up });
    const { ids, lengths } = uniqueChunks(recipe);
    const asked = [remote.getRecipe("img"), remote.storedSizes(ids, lengths)] as const;
    await settle();
    // The far side starts only now (as `nitro serve` does once ssh has run it).
    const served = serveSite(new LocalSite("far", store), up, down, { readOnly: true });
    expect((await asked[0])?.entries.length).toBe(recipe.entries.length);
    // The sizes worked out from the frames' bytes are the store's own.
    const { sizes, frames } = store.storedSizes(ids);
    expect(await asked[1]).toEqual({ sizes, frames });
    expect([...sizes].every((s) => s > 0)).toBe(true);
    await remote.close();
    await served;
    await store.close();

    const down2 = new PassThrough();
    const old = new RemoteSite("rome", { input: down2, output: new PassThrough() });
    const early = old.getRecipe("img");
    down2.write(encodeHello(0, PROTOCOL_VERSION + 1));
    await expect(early).rejects.toThrow(/protocol version mismatch/);
  });
});
