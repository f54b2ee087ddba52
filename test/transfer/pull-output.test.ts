import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { LocalSite } from "../../src/site/local.js";
import { uniqueChunks } from "../../src/store/recipe.js";
import type { Store } from "../../src/store/store.js";
import type { ChunkId, Frame } from "../../src/store/types.js";
import { pullChunks, type PullSource } from "../../src/transfer/pull.js";
import { tempDir } from "../helpers/data.js";
import { addTestImage, newStore } from "../helpers/sites.js";

async function* framesOf(store: Store, ids: ChunkId[]): AsyncGenerator<Frame> {
  yield* store.readFrames(ids);
}

const source = (store: Store, site: LocalSite = new LocalSite(store.config.site, store)): PullSource => ({
  name: store.config.site,
  site,
  bandwidth: 50e6,
  cost: 0,
});

/** Two full sources of an image whose chunks are repeated at several offsets. */
async function world(dir: string) {
  const origin = newStore(dir, "origin");
  const { recipe, path } = await addTestImage(origin, dir, "img");
  const { ids } = uniqueChunks(recipe);
  const sites = await Promise.all(
    ["a", "b"].map(async (n) => {
      const s = newStore(dir, n);
      await new LocalSite(n, s).putFrames(framesOf(origin, ids));
      return s;
    }),
  );
  return { origin, recipe, path, ids, sites };
}

describe("pull -o writes the image as chunks arrive", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("writes a byte-identical file in one pass: no chunk read back, none decoded twice", async () => {
    const { recipe, path, sites, origin } = await world(join(t.dir, "w1"));
    await origin.close();
    const dest = newStore(join(t.dir, "w1"), "dest");
    const reads = vi.spyOn(dest, "getChunk");
    const decodes = vi.spyOn(dest.codec, "decodeTransient");
    const out = join(t.dir, "w1", "out.img");
    const r = await pullChunks(
      dest,
      recipe,
      sites.map((s) => source(s)),
      {
        batchBytes: 256 * 1024,
        output: { path: out },
      },
    );
    expect(r.fetchedChunks).toBe(uniqueChunks(recipe).ids.length);
    expect(reads).not.toHaveBeenCalled();
    // Each frame is decoded once, on the verifier's thread, which also writes its chunks: never here.
    expect(decodes).not.toHaveBeenCalled();
    expect(readFileSync(out).equals(readFileSync(path))).toBe(true);
    expect(readdirSync(join(t.dir, "w1")).filter((f) => f.includes(".nitro-tmp"))).toEqual([]);
  });

  it("copies the chunks already here from the local store, and only those", async () => {
    const { recipe, path, sites, origin, ids } = await world(join(t.dir, "w2"));
    const dest = newStore(join(t.dir, "w2"), "dest");
    const here = ids.filter((_, i) => i % 3 === 0);
    await new LocalSite("dest", dest).putFrames(framesOf(origin, here));
    await origin.close();
    const reads = vi.spyOn(dest, "getChunk");
    const out = join(t.dir, "w2", "out.img");
    const r = await pullChunks(
      dest,
      recipe,
      sites.map((s) => source(s)),
      { output: { path: out } },
    );
    expect(r.present).toBe(here.length);
    expect(reads).toHaveBeenCalledTimes(here.length);
    expect(readFileSync(out).equals(readFileSync(path))).toBe(true);
  });

  it("leaves no file and no temporary when the pull fails", async () => {
    const { recipe, sites, origin } = await world(join(t.dir, "w3"));
    await origin.close();
    const dest = newStore(join(t.dir, "w3"), "dest");
    const failing = sites.map((s) =>
      source(
        s,
        Object.assign(new LocalSite(s.config.site, s), {
          // eslint-disable-next-line require-yield
          async *getFrames(): AsyncGenerator<Frame> {
            throw new Error("connection reset");
          },
        }),
      ),
    );
    const out = join(t.dir, "w3", "out.img");
    await expect(pullChunks(dest, recipe, failing, { output: { path: out } })).rejects.toMatchObject({
      exitCode: 10,
    });
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(join(t.dir, "w3")).filter((f) => f.includes("out.img"))).toEqual([]);
  });

  it("leaves no temporary when no site holds some chunk (the file is made while the holders answer)", async () => {
    const { recipe, origin, ids } = await world(join(t.dir, "w4"));
    const half = newStore(join(t.dir, "w4"), "half");
    await new LocalSite("half", half).putFrames(framesOf(origin, ids.slice(0, ids.length >> 1)));
    await origin.close();
    const dest = newStore(join(t.dir, "w4"), "dest");
    const out = join(t.dir, "w4", "out.img");
    await expect(pullChunks(dest, recipe, [source(half)], { output: { path: out } })).rejects.toThrow(
      /held by no reachable site: nothing was fetched/,
    );
    expect(readdirSync(join(t.dir, "w4")).filter((f) => f.includes("out.img"))).toEqual([]);
  });
});
