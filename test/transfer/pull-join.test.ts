import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { exportImage } from "../../src/image/export.js";
import { LocalSite } from "../../src/site/local.js";
import { ThrottledSite } from "../../src/site/throttled.js";
import type { ReadSite } from "../../src/site/site.js";
import { uniqueChunks } from "../../src/store/recipe.js";
import type { Store } from "../../src/store/store.js";
import type { ChunkId, Frame, Recipe, StoredSizes } from "../../src/store/types.js";
import { pullChunks, type PullSource } from "../../src/transfer/pull.js";
import { tempDir } from "../helpers/data.js";
import { addTestImage, newStore } from "../helpers/sites.js";

// Sites whose answer to "what do you hold" comes late, or never: the pull starts with those that
// have answered once they hold every chunk, and a late one joins when it answers.

async function* framesOf(store: Store, ids: ChunkId[]): AsyncGenerator<Frame> {
  yield* store.readFrames(ids);
}

/** An origin's image given to sites as `parts` says (chunk indices in recipe order), and an empty destination. */
async function world(dir: string, parts: (ids: ChunkId[]) => ChunkId[][]) {
  const origin = newStore(dir, "origin");
  const { recipe, path } = await addTestImage(origin, dir, "img");
  const stores = await Promise.all(
    parts(uniqueChunks(recipe).ids).map(async (ids, i) => {
      const s = newStore(dir, `s${i}`);
      await new LocalSite(s.config.site, s).putFrames(framesOf(origin, ids));
      return s;
    }),
  );
  await origin.close();
  return { recipe, path, sites: stores, dest: newStore(dir, "dest") };
}

/** A site whose holdings answer waits for `until` (forever if it never settles). */
function answersWhen(inner: ReadSite, until: Promise<unknown>): ReadSite {
  return Object.assign(Object.create(inner) as ReadSite, {
    storedSizes: async (ids: ChunkId[], lengths: ArrayLike<number>): Promise<StoredSizes> => {
      await until;
      return inner.storedSizes(ids, lengths);
    },
  });
}

const source = (store: Store, bandwidth: number, site?: ReadSite, cost = 0): PullSource => ({
  name: store.config.site,
  site: site ?? new LocalSite(store.config.site, store),
  bandwidth,
  cost,
});

/** A source sending at `rate` bytes/s, as the matrix says, whose holdings answer waits for `until`. */
const slow = (store: Store, rate: number, until: Promise<unknown> = Promise.resolve(), cost = 0) =>
  source(
    store,
    rate,
    answersWhen(new ThrottledSite(new LocalSite(store.config.site, store), rate), until),
    cost,
  );

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const never = new Promise<void>(() => {});

async function rebuilt(dest: Store, recipe: Recipe, dir: string): Promise<Buffer> {
  const out = join(dir, `out-${Math.random()}.img`);
  await exportImage(dest, recipe, out);
  return readFileSync(out);
}

describe("pull with sites that answer late", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const whole = (ids: ChunkId[]) => [ids, ids];

  it("starts with the site that has answered; the late one joins and takes a share", async () => {
    const { recipe, path, sites, dest } = await world(join(t.dir, "w1"), whole);
    // s0 alone would take ~2.3 s (7 MB at 3 MB/s); s1, as fast, answers after 0.4 s.
    const r = await pullChunks(dest, recipe, [slow(sites[0]!, 3e6), slow(sites[1]!, 3e6, sleep(400))]);
    const [s0, s1] = r.sources;
    expect(s0!.joined).toBeUndefined();
    expect(s0!.plannedChunks).toBe(r.fetchedChunks);
    // Seconds into the transfer, which began JOIN_GRACE_MS (0.1 s) after s0 answered.
    expect(s1!.joined).toBeGreaterThanOrEqual(0.25);
    expect(s1!.plannedChunks).toBe(0);
    // Joined with the pull well under way, it still takes a fair part of what was left.
    expect(s1!.bytes).toBeGreaterThan(r.wireBytes / 4);
    expect(s0!.chunks + s1!.chunks).toBe(r.fetchedChunks);
    expect(r.unheard).toEqual([]);
    expect((await rebuilt(dest, recipe, t.dir)).equals(readFileSync(path))).toBe(true);
  });

  it("does not wait for a site that never says what it holds, and names it", async () => {
    const { recipe, path, sites, dest } = await world(join(t.dir, "w2"), whole);
    const t0 = performance.now();
    const r = await pullChunks(dest, recipe, [
      source(sites[0]!, 100e6),
      source(sites[1]!, 100e6, answersWhen(new LocalSite("s1", sites[1]!), never)),
    ]);
    expect((performance.now() - t0) / 1000).toBeLessThan(10);
    expect(r.sources.map((s) => s.site)).toEqual(["s0"]);
    expect(r.unheard).toEqual(["s1"]);
    expect((await rebuilt(dest, recipe, t.dir)).equals(readFileSync(path))).toBe(true);
  });

  it("waits for a site that answers within twice the time the first ones took", async () => {
    const { recipe, sites, dest } = await world(join(t.dir, "w5"), whole);
    // The command began 1 s before: an answer 0.3 s after the first ones is not late.
    const r = await pullChunks(dest, recipe, [source(sites[0]!, 100e6), slow(sites[1]!, 100e6, sleep(300))], {
      since: performance.now() - 1000,
    });
    expect(r.sources.map((s) => [s.site, s.joined])).toEqual([
      ["s0", undefined],
      ["s1", undefined],
    ]);
    expect(r.sources[1]!.plannedChunks).toBeGreaterThan(0);
  });

  it("waits for a late site when those that answered lack some chunks", async () => {
    const half = (ids: ChunkId[]) => [ids.slice(0, ids.length >> 1), ids.slice(ids.length >> 1)];
    const { recipe, path, sites, dest } = await world(join(t.dir, "w3"), half);
    const r = await pullChunks(dest, recipe, [source(sites[0]!, 100e6), slow(sites[1]!, 100e6, sleep(300))]);
    expect(r.sources.map((s) => [s.site, s.joined])).toEqual([
      ["s0", undefined],
      ["s1", undefined],
    ]);
    expect(r.sources[1]!.plannedChunks).toBeGreaterThan(0);
    expect((await rebuilt(dest, recipe, t.dir)).equals(readFileSync(path))).toBe(true);
  });

  it.each([
    ["a baseline", { strategy: "fastest-source" as const }],
    ["a cost plan", { objective: { kind: "cost" as const } }],
  ])("%s is made once every site has answered", async (_, opts) => {
    const { recipe, sites, dest } = await world(join(t.dir, `w4-${Math.random()}`), whole);
    const r = await pullChunks(
      dest,
      recipe,
      [source(sites[0]!, 10e6, undefined, 0.09), slow(sites[1]!, 100e6, sleep(300), 0.01)],
      opts,
    );
    expect(r.sources.map((s) => s.joined)).toEqual([undefined, undefined]);
    expect(r.sources[1]!.plannedChunks).toBe(r.fetchedChunks);
  });
});
