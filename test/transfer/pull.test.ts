import { openSync, readdirSync, readSync, writeSync, closeSync, statSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { exportImage } from "../../src/image/export.js";
import { LocalSite } from "../../src/site/local.js";
import { ThrottledSite } from "../../src/site/throttled.js";
import type { ReadSite } from "../../src/site/site.js";
import { uniqueChunks } from "../../src/store/recipe.js";
import type { Store } from "../../src/store/store.js";
import type { ChunkId, Frame, Recipe } from "../../src/store/types.js";
import { pullChunks, type PullSource } from "../../src/transfer/pull.js";
import { tempDir } from "../helpers/data.js";
import { addTestImage, newStore } from "../helpers/sites.js";

async function* framesOf(store: Store, ids: ChunkId[]): AsyncGenerator<Frame> {
  yield* store.readFrames(ids);
}

/** Three sites holding overlapping thirds-and-more of one image, and an empty destination. */
async function world(dir: string) {
  const origin = newStore(dir, "origin");
  const { recipe, path } = await addTestImage(origin, dir, "img");
  const { ids } = uniqueChunks(recipe);
  const sites = ["a", "b", "c"].map((n) => newStore(dir, n));
  // a: first 2/3, b: last 2/3, c: everything (so every chunk has 2+ holders)
  const parts = [ids.slice(0, Math.ceil((ids.length * 2) / 3)), ids.slice(Math.floor(ids.length / 3)), ids];
  for (let i = 0; i < 3; i++)
    await new LocalSite(sites[i]!.config.site, sites[i]!).putFrames(framesOf(origin, parts[i]!));
  await origin.close();
  return { recipe, path, sites, dest: newStore(dir, "dest") };
}

/** world(), with every site holding every chunk. */
async function fullWorld(dir: string) {
  const w = await world(dir);
  const { ids } = uniqueChunks(w.recipe);
  for (const s of w.sites.slice(0, 2))
    await new LocalSite(s.config.site, s).putFrames(framesOf(w.sites[2]!, ids));
  return w;
}

/** A source the matrix puts at `bandwidth` that really sends at `real` bytes/s. */
const throttledSource = (store: Store, bandwidth: number, real: number) =>
  source(store, bandwidth, new ThrottledSite(new LocalSite(store.config.site, store), real));

const source = (
  store: Store,
  bandwidth: number,
  site: ReadSite = new LocalSite(store.config.site, store),
): PullSource => ({
  name: store.config.site,
  site,
  bandwidth,
  cost: 0,
});

/** A real site that breaks after `frames` frames, as a cut connection does. */
function breaking(inner: ReadSite, frames: number): ReadSite {
  let sent = 0;
  return Object.assign(Object.create(inner) as ReadSite, {
    async *getFrames(ids: ChunkId[]) {
      for await (const f of inner.getFrames(ids)) {
        if (++sent > frames) throw new Error("connection reset");
        yield f;
      }
    },
  });
}

async function rebuilt(dest: Store, recipe: Recipe, dir: string): Promise<Buffer> {
  const out = join(dir, `out-${dest.config.site}-${Math.random()}.img`);
  await exportImage(dest, recipe, out);
  return readFileSync(out);
}

describe("pull from several sites", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("rebuilds a byte-identical image using every source", async () => {
    const { recipe, path, sites, dest } = await world(join(t.dir, "w1"));
    const r = await pullChunks(
      dest,
      recipe,
      sites.map((s) => source(s, 100e6)),
      { batchBytes: 256 * 1024 },
    );
    expect(r.fetchedChunks).toBe(uniqueChunks(recipe).ids.length);
    for (const s of r.sources) expect(s.chunks).toBeGreaterThan(0);
    expect((await rebuilt(dest, recipe, t.dir)).equals(readFileSync(path))).toBe(true);
    expect(dest.getRecipe("img")).toBeDefined();
    // Now the destination is a source too: a second pull fetches nothing.
    const again = await pullChunks(
      dest,
      recipe,
      sites.map((s) => source(s, 100e6)),
    );
    expect(again.fetchedChunks).toBe(0);
  });

  it("finishes from the others when a source fails mid-pull", async () => {
    const { recipe, path, sites, dest } = await world(join(t.dir, "w2"));
    const srcs = sites.map((s) => source(s, 100e6));
    srcs[2] = source(sites[2]!, 100e6, breaking(new LocalSite("c", sites[2]!), 1));
    const r = await pullChunks(dest, recipe, srcs, { batchBytes: 128 * 1024 });
    expect(r.sources[2]!.failed).toMatch(/connection reset/);
    expect((await rebuilt(dest, recipe, t.dir)).equals(readFileSync(path))).toBe(true);
  });

  it("drops a source that sends a corrupt chunk and still gets an identical image", async () => {
    const { recipe, path, sites, dest } = await world(join(t.dir, "w3"));
    const c = sites[2]!;
    const packs = join(c.dir, "packs");
    for (const f of readdirSync(packs)) {
      const p = join(packs, f);
      const fd = openSync(p, "r+");
      const b = Buffer.alloc(1);
      for (let at = 4096; at < statSync(p).size; at += 256 * 1024) {
        readSync(fd, b, 0, 1, at);
        b[0]! ^= 0xff;
        writeSync(fd, b, 0, 1, at);
      }
      closeSync(fd);
    }
    // c is the fastest by far: the plan gives it most chunks, and they are corrupt.
    const r = await pullChunks(dest, recipe, [
      source(sites[0]!, 10e6),
      source(sites[1]!, 10e6),
      source(c, 1e9),
    ]);
    expect(r.sources[2]!.failed).toMatch(/corrupt|match|decompress/);
    expect((await rebuilt(dest, recipe, t.dir)).equals(readFileSync(path))).toBe(true);
    expect(dest.check(true).errors).toEqual([]);
  });

  it("refuses, fetching nothing, when some chunk has no holder", async () => {
    const { recipe, sites, dest } = await world(join(t.dir, "w4"));
    await expect(pullChunks(dest, recipe, [source(sites[0]!, 1e6)])).rejects.toMatchObject({ exitCode: 10 });
    expect(dest.index.counters().chunks).toBe(0);
  });

  it("fails with a count of missing chunks when every holder of some chunks fails", async () => {
    const { recipe, sites, dest } = await world(join(t.dir, "w5"));
    const broken = sites.map((s) => source(s, 1e8, breaking(new LocalSite(s.config.site, s), 0)));
    await expect(pullChunks(dest, recipe, broken)).rejects.toMatchObject({
      exitCode: 10,
      message: expect.stringMatching(/\d+ chunks could not be fetched/),
    });
    expect(dest.getRecipe("img")).toBeUndefined();
  });

  it("stops the other sources at once when some chunks lose their last holder", async () => {
    const { recipe, sites, dest } = await world(join(t.dir, "w7"));
    // a (slow: its share takes seconds) and b, which alone holds the last third and fails at once.
    const slow = source(sites[0]!, 250e3, new ThrottledSite(new LocalSite("a", sites[0]!), 250e3));
    const failing = source(sites[1]!, 250e3, breaking(new LocalSite("b", sites[1]!), 0));
    const t0 = performance.now();
    await expect(pullChunks(dest, recipe, [slow, failing], { batchBytes: 128 * 1024 })).rejects.toMatchObject(
      {
        exitCode: 10,
        message: expect.stringMatching(
          /chunks could not be fetched: every site holding them failed \(b: connection reset\)/,
        ),
      },
    );
    // a's planned share alone is over 3 MiB: at 250 kB/s, finishing it would take twelve seconds and more.
    expect((performance.now() - t0) / 1000).toBeLessThan(6);
    expect(dest.getRecipe("img")).toBeUndefined();
  });

  it("asks for whole stored frames, even when a frame is larger than a request", async () => {
    // A frame asked for in parts is decompressed and recompressed by its source, once per part.
    const { recipe, sites } = await world(join(t.dir, "w11"));
    const full = sites[2]!;
    const requests: ChunkId[][] = [];
    const recording = Object.assign(Object.create(new LocalSite("c", full)) as ReadSite, {
      getFrames(ids: ChunkId[]) {
        requests.push(ids);
        return framesOf(full, ids);
      },
    });
    const { ids } = uniqueChunks(recipe);
    // Requests of 1 MiB (1/5 s at 8 MB/s); the frames' stored bytes are up to twice that.
    const r = await pullChunks(
      newStore(join(t.dir, "w11"), "dest-frames"),
      recipe,
      [source(full, 8e6, recording)],
      {
        batchBytes: 1024 * 1024,
      },
    );
    expect(r.fetchedChunks).toBe(ids.length);
    const { frames } = full.storedSizes(ids);
    const perFrame = new Map<number, number>();
    for (const f of frames) perFrame.set(f, (perFrame.get(f) ?? 0) + 1);
    expect(requests.length).toBeGreaterThan(2);
    const index = new Map(ids.map((id, i) => [id.toString("hex"), i]));
    for (const req of requests) {
      const asked = new Map<number, number>();
      for (const id of req) {
        const f = frames[index.get(id.toString("hex"))!]!;
        asked.set(f, (asked.get(f) ?? 0) + 1);
      }
      for (const [f, n] of asked) expect(n).toBe(perFrame.get(f));
    }
  });

  it("lets a source faster than the matrix says take over queued work from the others", async () => {
    const { recipe, sites } = await fullWorld(join(t.dir, "w6"));
    const rate = 8e6;
    const throttled = (s: Store, real: number) => throttledSource(s, rate, real);

    // Small requests, so that most of each share is still queued (stealable) while others run.
    const opts = { batchBytes: 128 * 1024 };
    const skewed = await pullChunks(
      newStore(join(t.dir, "w6"), "dest-skew"),
      recipe,
      [
        throttled(sites[0]!, rate * 8), // really 8x faster than the matrix says
        throttled(sites[1]!, rate),
        throttled(sites[2]!, rate),
      ],
      opts,
    );
    expect(skewed.sources[0]!.stole).toBeGreaterThan(0);
    expect(skewed.sources[0]!.bytes).toBeGreaterThan(skewed.sources[0]!.plannedBytes * 1.1);
  });

  it("plans the chunks not yet asked for again at the rates measured: a slow source keeps less", async () => {
    const { recipe, sites } = await fullWorld(join(t.dir, "w8"));
    const rate = 2e6;
    const throttled = (s: Store, real: number) => throttledSource(s, rate, real);
    const r = await pullChunks(
      newStore(join(t.dir, "w8"), "dest-replan"),
      recipe,
      // The matrix says the three are alike; a really runs at a sixteenth of that.
      [throttled(sites[0]!, rate / 16), throttled(sites[1]!, rate), throttled(sites[2]!, rate)],
      { batchBytes: 128 * 1024 },
    );
    expect(r.replanning.times).toBeGreaterThan(0);
    expect(r.replanning.chunks).toBeGreaterThan(0);
    expect(r.sources[0]!.bytes).toBeLessThan(r.sources[0]!.plannedBytes * 0.6);
    expect(r.sources[1]!.bytes + r.sources[2]!.bytes).toBeGreaterThan(
      r.sources[1]!.plannedBytes + r.sources[2]!.plannedBytes,
    );
  });

  it("a baseline strategy runs as itself: never planned again", async () => {
    const { recipe, sites } = await world(join(t.dir, "w9"));
    const r = await pullChunks(
      newStore(join(t.dir, "w9"), "dest-rr"),
      recipe,
      [
        source(sites[0]!, 8e6, new ThrottledSite(new LocalSite("a", sites[0]!), 1e6)),
        source(sites[1]!, 8e6),
        source(sites[2]!, 8e6),
      ],
      { strategy: "round-robin", batchBytes: 128 * 1024 },
    );
    expect(r.replanning.times).toBe(0);
    expect(r.hedging.chunks).toBe(0);
    r.sources.forEach((s) => expect(s.chunks).toBe(s.plannedChunks));
  });

  it("asks a faster source again for what a slow one still has in flight at the end; the first copy is kept", async () => {
    const dir = join(t.dir, "w10");
    const { recipe, path, sites } = await fullWorld(dir);
    const dest = newStore(dir, "dest-hedge");
    const rate = 4e6;
    const r = await pullChunks(
      dest,
      recipe,
      // The matrix says the three are alike; a really sends at 50 kB/s: each of its requests in
      // flight (128 KiB and more) would take seconds.
      [
        throttledSource(sites[0]!, rate, 50e3),
        throttledSource(sites[1]!, rate, rate),
        throttledSource(sites[2]!, rate, rate),
      ],
      { batchBytes: 128 * 1024 },
    );
    expect(r.hedging.chunks).toBeGreaterThan(0);
    expect(r.hedging.won).toBeGreaterThan(0);
    // Each chunk counted once, whoever sent it.
    expect(r.sources.reduce((n, s) => n + s.chunks, 0)).toBe(r.fetchedChunks);
    expect(r.sources[0]!.chunks).toBeLessThan(r.sources[0]!.plannedChunks);
    expect((await rebuilt(dest, recipe, dir)).equals(readFileSync(path))).toBe(true);
  });
});
