import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { plan } from "../../src/plan/plan.js";
import { LocalSite } from "../../src/site/local.js";
import { ThrottledSite } from "../../src/site/throttled.js";
import { entryCount, entryId, entryLength, uniqueChunks } from "../../src/store/recipe.js";
import type { Store } from "../../src/store/store.js";
import type { ChunkId, Frame, Recipe } from "../../src/store/types.js";
import { preparePlan, pullChunks, type PullSource } from "../../src/transfer/pull.js";
import { tempDir } from "../helpers/data.js";
import { addTestImage, newStore } from "../helpers/sites.js";

const MiB = 1024 * 1024;

async function* framesOf(store: Store, ids: ChunkId[]): AsyncGenerator<Frame> {
  yield* store.readFrames(ids);
}

/** The test image's chunks by region: random a (0-3 MiB), text b (10-14 MiB), random c (30-32 MiB). */
function regions(recipe: Recipe): { a: ChunkId[]; b: ChunkId[]; c: ChunkId[] } {
  const out = { a: [] as ChunkId[], b: [] as ChunkId[], c: [] as ChunkId[] };
  const seen = new Set<string>();
  for (let i = 0, offset = 0; i < entryCount(recipe); offset += entryLength(recipe, i), i++) {
    const id = entryId(recipe, i);
    const key = id.toString("hex");
    if (seen.has(key) || id.every((x) => x === 0)) continue;
    seen.add(key);
    (offset < 10 * MiB ? out.a : offset < 30 * MiB ? out.b : out.c).push(id);
  }
  return out;
}

/** An origin's image handed out to sites as `parts` says, and an empty destination. */
async function world(dir: string, parts: (r: ReturnType<typeof regions>) => ChunkId[][]) {
  const origin = newStore(dir, "origin");
  const { recipe, path } = await addTestImage(origin, dir, "img");
  const sites = parts(regions(recipe)).map(async (ids, i) => {
    const s = newStore(dir, `s${i}`);
    await new LocalSite(s.config.site, s).putFrames(framesOf(origin, ids));
    return s;
  });
  const stores = await Promise.all(sites);
  await origin.close();
  return { recipe, path, sites: stores, dest: newStore(dir, "dest") };
}

const source = (store: Store, bandwidth: number, cost = 0, realRate?: number): PullSource => {
  const local = new LocalSite(store.config.site, store);
  return {
    name: store.config.site,
    site: realRate ? new ThrottledSite(local, realRate) : local,
    bandwidth,
    cost,
  };
};

describe("pull plans in wire bytes", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("gives a site whose own chunks compress well the bigger share of the shared ones", async () => {
    // s0: the text region (compresses ~3:1) and the shared random region a; s1: random c and a.
    const { recipe, sites, dest } = await world(join(t.dir, "w1"), (r) => [
      [...r.b, ...r.a],
      [...r.c, ...r.a],
    ]);
    const prep = await preparePlan(
      (ids) => dest.has(ids),
      recipe,
      sites.map((s) => source(s, 10e6)),
    );
    const wire = prep.sizes.reduce((s, x) => s + x, 0);
    const raw = prep.rawSizes.reduce((s, x) => s + x, 0);
    expect(raw).toBe(uniqueChunks(recipe).lengths.reduce((s, x) => s + x, 0));
    expect(wire).toBeLessThan(raw * 0.85);
    expect(prep.plan.bytesPerSite.reduce((s, x) => s + x, 0)).toBe(wire);

    // In raw bytes s0 already has 4 MiB of its own to s1's 2 MiB: a raw plan would give s1 most
    // of a. On the wire s0's own bytes are the fewer, so s0 takes most of a.
    const shared = new Set(regions(recipe).a.map((id) => id.toString("hex")));
    const sharedBytes = (assignment: Uint8Array) => {
      const from = [0, 0];
      prep.needIds.forEach((id, k) => {
        if (shared.has(id.toString("hex"))) from[assignment[k]!]! += prep.rawSizes[k]!;
      });
      return from;
    };
    const wirePlan = sharedBytes(prep.plan.assignment);
    const rawPlan = sharedBytes(
      plan({ sites: prep.sources, holders: prep.holders, sizes: prep.rawSizes }).assignment,
    );
    expect(wirePlan[0]).toBeGreaterThan(wirePlan[1]!);
    expect(rawPlan[0]).toBeLessThan(rawPlan[1]!);
    expect(wirePlan[0]).toBeGreaterThan(2 * rawPlan[0]!);
    // Balanced on the wire: the two finish within a chunk's time of each other.
    const [t0, t1] = prep.plan.secondsPerSite;
    expect(Math.abs(t0! - t1!)).toBeLessThan((256 * 1024) / 10e6);
  });

  it("--strategy single-site pulls everything from its one site, however fast the others are", async () => {
    const { recipe, sites } = await world(join(t.dir, "w2"), (r) => {
      const all = [...r.a, ...r.b, ...r.c];
      return [all, all, all];
    });
    const rate = 8e6;
    const r = await pullChunks(
      newStore(join(t.dir, "w2"), "dest-single"),
      recipe,
      // s0 is the matrix's fastest; s1 and s2 are really far faster than the matrix says.
      [
        source(sites[0]!, rate * 1.2, 0, rate * 1.2),
        source(sites[1]!, rate, 0, rate * 8),
        source(sites[2]!, rate, 0, rate * 8),
      ],
      { strategy: "single-site", batchBytes: 128 * 1024 },
    );
    expect(r.sources.map((s) => s.chunks)).toEqual([r.fetchedChunks, 0, 0]);
    expect(r.stealing).toEqual({ chunks: 0, bytes: 0, cost: 0 });
  });

  it("round-robin runs as planned: every source sends exactly its planned chunks", async () => {
    const { recipe, sites } = await world(join(t.dir, "w3"), (r) => {
      const all = [...r.a, ...r.b, ...r.c];
      return [all, all];
    });
    const r = await pullChunks(
      newStore(join(t.dir, "w3"), "dest-rr"),
      recipe,
      [source(sites[0]!, 8e6, 0, 64e6), source(sites[1]!, 8e6, 0, 8e6)],
      { strategy: "round-robin", batchBytes: 128 * 1024 },
    );
    expect(r.sources.map((s) => s.chunks)).toEqual(r.sources.map((s) => s.plannedChunks));
    expect(r.sources.every((s) => s.stole === 0)).toBe(true);
  });

  it("--objective cost: a faster, dearer site takes nothing over; the cost paid is the cost planned", async () => {
    const { recipe, sites } = await world(join(t.dir, "w4"), (r) => {
      const all = [...r.a, ...r.b, ...r.c];
      return [all, all];
    });
    const rate = 16e6;
    const r = await pullChunks(
      newStore(join(t.dir, "w4"), "dest-cost"),
      recipe,
      // s1 is dear and really 8x faster than the matrix says: under the time objective it steals.
      [source(sites[0]!, rate, 0.02, rate), source(sites[1]!, rate, 0.09, rate * 8)],
      { objective: { kind: "cost" }, batchBytes: 128 * 1024 },
    );
    expect(r.plannedCost).toBeGreaterThan(0);
    expect(Math.abs(r.cost - r.plannedCost)).toBeLessThanOrEqual(0.05 * r.plannedCost);
    expect(r.stealing.chunks).toBe(0);
    expect(r.sources[1]!.chunks).toBe(0);

    const timed = await pullChunks(
      newStore(join(t.dir, "w4"), "dest-time"),
      recipe,
      [source(sites[0]!, rate, 0.02, rate), source(sites[1]!, rate, 0.09, rate * 8)],
      { objective: { kind: "time" }, batchBytes: 128 * 1024 },
    );
    expect(timed.stealing.chunks).toBeGreaterThan(0);
    expect(timed.stealing.cost).toBeGreaterThan(0);
    expect(timed.sources[1]!.stolenBytes).toBe(timed.stealing.bytes);
  });
});
