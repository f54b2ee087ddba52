import { blake3 } from "@napi-rs/blake-hash";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MaintainSite } from "../../src/site/site.js";
import { FrameCodec } from "../../src/store/codec.js";
import { recipeDigest } from "../../src/store/recipe.js";
import { Codec, ENTRY_BYTES, type ChunkId, type Frame, type Recipe } from "../../src/store/types.js";
import { Exit } from "../../src/util/errors.js";
import { Limits } from "../../src/wire/protocol.js";
import { pseudoRandom, pseudoText } from "../helpers/data.js";

/** One site under test, fresh and empty, and how to dispose of what `make` set up. */
export interface ConformanceSubject {
  site: MaintainSite;
  /** Removes what `make` created; the suite has closed the site (or tried to) before. */
  cleanup: () => Promise<void>;
}

/** A call that has not settled by then counts as a hang. */
const PROMPT_MS = 5000;

const codec = new FrameCodec(Codec.Zstd, 3);

interface Built {
  frame: Frame;
  chunks: Buffer[];
}

/** A frame of `n` chunks of `size` bytes: random (stored raw) or text (compressed). */
function buildFrame(seed: string, n: number, size: number, text = false): Built {
  const chunks = Array.from({ length: n }, (_, i) =>
    text ? pseudoText(`${seed}-${i}`, size) : pseudoRandom(`${seed}-${i}`, size),
  );
  const { codec: c, payload } = codec.encode(Buffer.concat(chunks));
  return {
    frame: { codec: c, chunks: chunks.map((d) => ({ id: blake3(d), length: d.length })), payload },
    chunks,
  };
}

async function* each<T>(items: T[]): AsyncIterable<T> {
  yield* items;
}

const hex = (id: ChunkId) => id.toString("hex");

/** The chunks the frames hold, id (hex) → bytes; a chunk met twice or not matching its id fails. */
async function receive(frames: AsyncIterable<Frame>): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const f of frames) {
    const raw = f.chunks.reduce((s, c) => s + c.length, 0);
    const bytes = Buffer.from(codec.decode(f.codec, f.payload, raw));
    let o = 0;
    for (const c of f.chunks) {
      const data = bytes.subarray(o, o + c.length);
      o += c.length;
      expect(hex(blake3(data)), "a received chunk hashes to its id").toBe(hex(c.id));
      expect(out.has(hex(c.id)), `chunk ${hex(c.id)} sent twice`).toBe(false);
      out.set(hex(c.id), data);
    }
  }
  return out;
}

/** What the chunks should come back as: id (hex) → bytes. */
function expected(built: Built[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const b of built) b.frame.chunks.forEach((c, i) => out.set(hex(c.id), b.chunks[i]!));
  return out;
}

function expectSameChunks(got: Map<string, Buffer>, want: Map<string, Buffer>): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [id, data] of want) expect(got.get(id)!.equals(data), `bytes of chunk ${id}`).toBe(true);
}

const idsOf = (built: Built[]) => built.flatMap((b) => b.frame.chunks.map((c) => c.id));
const absentId = (seed: string) => blake3(Buffer.from(`absent ${seed}`));

/** A recipe over the given chunks with a true digest. */
function recipeOf(name: string, built: Built[]): Recipe {
  const chunks = built.flatMap((b) => b.frame.chunks);
  const entries = Buffer.alloc(chunks.length * ENTRY_BYTES);
  let size = 0;
  chunks.forEach((c, i) => {
    c.id.copy(entries, i * ENTRY_BYTES);
    entries.writeUInt32LE(c.length, i * ENTRY_BYTES + 32);
    size += c.length;
  });
  return {
    name,
    size,
    chunker: { kind: "fastcdc", min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 },
    digest: recipeDigest(size, entries),
    created: "2026-01-02T03:04:05.000Z",
    entries,
  };
}

type Outcome =
  | { settled: "fulfilled"; value: unknown }
  | { settled: "rejected"; reason: unknown }
  | { settled: "pending" };

/** How `p` settles within `ms`; "pending" means it hung. */
async function within(p: Promise<unknown>, ms = PROMPT_MS): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<Outcome>((r) => (timer = setTimeout(() => r({ settled: "pending" }), ms)));
  const settled = p.then(
    (value): Outcome => ({ settled: "fulfilled", value }),
    (reason: unknown): Outcome => ({ settled: "rejected", reason }),
  );
  try {
    return await Promise.race([settled, pending]);
  } finally {
    clearTimeout(timer);
  }
}

const exitCodeOf = (o: Outcome) =>
  o.settled === "rejected" ? (o.reason as { exitCode?: number }).exitCode : o.settled;

/**
 * The behaviour every Site implementation owes its callers (after restic's backend test suite):
 * `kind` names the implementation, `make` gives a fresh, empty site for each test. A transport
 * names in `cuts` the ways its connection can die under it (kill the far process, the sshd
 * session...); each is checked for pending calls failing promptly.
 */
export function describeSiteConformance(
  kind: string,
  make: () => Promise<ConformanceSubject>,
  opts: { cuts?: Record<string, () => Promise<void>> } = {},
): void {
  describe(`Site conformance: ${kind}`, () => {
    let subject: ConformanceSubject;
    let site: MaintainSite;
    let closed = false;

    beforeEach(async () => {
      subject = await make();
      site = subject.site;
      closed = false;
    });

    afterEach(async () => {
      if (!closed) await within(site.close());
      await subject.cleanup();
    });

    const put = async (built: Built[]) => site.putFrames(each(built.map((b) => b.frame)));

    it("has: absent ids are false, an empty batch is empty, present ones true, in order", async () => {
      expect(await site.has([])).toEqual([]);
      const built = [buildFrame("has-a", 3, 20_000), buildFrame("has-b", 2, 50_000, true)];
      const ids = idsOf(built);
      expect(await site.has(ids)).toEqual([false, false, false, false, false]);
      await put(built);
      const mixed = [absentId("1"), ids[0]!, absentId("2"), ids[4]!, ids[2]!, absentId("3")];
      expect(await site.has(mixed)).toEqual([false, true, false, true, true, false]);
      expect(await site.has([])).toEqual([]);
    });

    it("storedSizes: 0 when absent, else the chunk's share of its stored frame, in order", async () => {
      expect((await site.storedSizes([], [])).sizes).toEqual(new Uint32Array(0));
      const built = [buildFrame("sz-a", 2, 40_000), buildFrame("sz-b", 2, 40_000, true)];
      await put(built);
      const ids = idsOf(built);
      const asked = [absentId("s1"), ...ids, absentId("s2")];
      const { sizes, frames } = await site.storedSizes(asked, [1, 40_000, 40_000, 40_000, 40_000, 1]);
      // Which chunks share a stored frame: the two of each frame sent, not those of the other.
      expect(frames[1]).toBe(frames[2]);
      expect(frames[3]).toBe(frames[4]);
      expect(frames[1]).not.toBe(frames[3]);
      expect(sizes.length).toBe(6);
      expect([sizes[0], sizes[5]]).toEqual([0, 0]);
      // Random chunks are stored raw: their length and their header entry.
      expect([sizes[1], sizes[2]]).toEqual([40_000 + ENTRY_BYTES, 40_000 + ENTRY_BYTES]);
      // Text chunks travel compressed: together they are their frame's payload (rounded up).
      const text = sizes[3]! + sizes[4]!;
      expect(sizes[3]).toBeLessThan(20_000);
      expect(text - 2 * ENTRY_BYTES - built[1]!.frame.payload.length).toBeGreaterThanOrEqual(0);
      expect(text - 2 * ENTRY_BYTES - built[1]!.frame.payload.length).toBeLessThanOrEqual(2);
    });

    it("has: a batch of more than 65,536 ids is answered whole and in order", async () => {
      const built = [buildFrame("many", 4, 10_000)];
      await put(built);
      const present = idsOf(built);
      const n = Limits.IDS + 1500;
      // Present ids land on both sides of the 65,536 boundary.
      const ids = Array.from({ length: n }, (_, i) => (i % 997 === 0 ? present[i % 4]! : absentId(`m${i}`)));
      const have = await site.has(ids);
      expect(have.length).toBe(n);
      expect(have.filter(Boolean).length).toBe(ids.filter((_, i) => i % 997 === 0).length);
      have.forEach((h, i) => {
        if (h !== (i % 997 === 0)) expect.fail(`has()[${i}] is ${h}`);
      });
    });

    it("putFrames stores exactly the chunks; has and getFrames give them back byte for byte", async () => {
      const built = [
        buildFrame("put-a", 5, 30_000),
        buildFrame("put-b", 3, 100_000, true),
        buildFrame("put-c", 1, 1),
        buildFrame("put-d", 2, 300_000),
      ];
      expect(built[1]!.frame.codec).toBe(Codec.Zstd);
      const r = await put(built);
      const want = expected(built);
      expect(r).toMatchObject({ chunks: want.size, skipped: 0 });
      expect(r.rawBytes).toBe([...want.values()].reduce((s, d) => s + d.length, 0));
      expect(await site.has(idsOf(built))).toEqual(idsOf(built).map(() => true));
      expectSameChunks(await receive(site.getFrames(idsOf(built))), want);

      // A subset across frames comes back as exactly that subset.
      const ids = idsOf(built);
      const subset = [ids[1]!, ids[6]!, ids[8]!, ids[10]!];
      const wantSubset = new Map(subset.map((id) => [hex(id), want.get(hex(id))!]));
      expectSameChunks(await receive(site.getFrames(subset)), wantSubset);

      // Putting the same frames again stores nothing new.
      expect(await put(built.slice(0, 2))).toMatchObject({ chunks: 0, skipped: 8 });
    });

    it("getFrames of a missing chunk rejects with NOT_FOUND", async () => {
      const built = [buildFrame("nf", 2, 10_000)];
      await put(built);
      const alone = await within(receive(site.getFrames([absentId("nf")])));
      expect(exitCodeOf(alone)).toBe(Exit.NOT_FOUND);
      const mixed = await within(receive(site.getFrames([...idsOf(built), absentId("nf2")])));
      expect(exitCodeOf(mixed)).toBe(Exit.NOT_FOUND);
      // The site goes on serving.
      expectSameChunks(await receive(site.getFrames(idsOf(built))), expected(built));
    });

    it("a frame whose bytes do not hash to its ids is refused with CORRUPT and nothing is stored", async () => {
      const good = buildFrame("good", 2, 20_000);
      const lying = buildFrame("lie", 3, 20_000);
      const forgedId = {
        ...lying.frame,
        chunks: lying.frame.chunks.map((c, i) => (i === 1 ? { ...c, id: absentId("forged") } : c)),
      };
      const flipped = buildFrame("flip", 2, 20_000);
      const payload = Buffer.from(flipped.frame.payload);
      payload[payload.length - 7]! ^= 0x40;
      const flippedFrame = { ...flipped.frame, payload };

      for (const bad of [forgedId, flippedFrame]) {
        const o = await within(site.putFrames(each([good.frame, bad])));
        expect(exitCodeOf(o)).toBe(Exit.CORRUPT);
        const ids = bad.chunks.map((c) => c.id);
        expect(await site.has(ids)).toEqual(ids.map(() => false));
      }
      expect(await site.has(idsOf([lying, flipped]))).toEqual([false, false, false, false, false]);
      // Still usable: a sound upload goes through.
      expect(await put([lying])).toMatchObject({ chunks: 3 });
    });

    it("putRecipe, getRecipe and listRecipes round trip; an unknown recipe is undefined", async () => {
      const built = [buildFrame("rec-a", 3, 10_000), buildFrame("rec-b", 2, 7_000, true)];
      await put(built);
      const one = recipeOf("one.raw", built);
      const two = recipeOf("two.raw", built.slice(1));
      expect(await site.getRecipe("one.raw")).toBeUndefined();
      expect(await site.listRecipes()).toEqual([]);
      await site.putRecipe(one);
      await site.putRecipe(two);
      for (const r of [one, two]) {
        const back = (await site.getRecipe(r.name))!;
        expect(back.entries.equals(r.entries)).toBe(true);
        expect({ ...back, entries: null }).toEqual({ ...r, entries: null });
      }
      const list = await site.listRecipes();
      expect(list.sort((a, b) => a.name.localeCompare(b.name))).toEqual(
        [one, two].map((r) => ({
          name: r.name,
          size: r.size,
          digest: r.digest,
          created: r.created,
          chunks: r.entries.length / ENTRY_BYTES,
        })),
      );
      expect(await site.getRecipe("three.raw")).toBeUndefined();
    });

    it("status: complete, partial, recipe-only and unknown images, computed at the site", async () => {
      const held = [buildFrame("st-a", 3, 10_000), buildFrame("st-b", 2, 30_000, true)];
      const elsewhere = [buildFrame("st-c", 4, 5_000)];
      await put(held);
      await site.putRecipe(recipeOf("full.raw", held));
      await site.putRecipe(recipeOf("part.raw", [held[1]!, ...elsewhere]));
      await site.putRecipe(recipeOf("bare.raw", elsewhere));
      expect(await site.status([])).toEqual([]);
      const all = (await site.status()).sort((a, b) => a.name.localeCompare(b.name));
      const row = (name: string, size: number, present: number) => ({
        name,
        recipe: true,
        size,
        dataBytes: size,
        presentBytes: present,
        complete: present === size,
      });
      expect(all).toEqual([
        row("bare.raw", 20_000, 0),
        row("full.raw", 90_000, 90_000),
        row("part.raw", 80_000, 60_000),
      ]);
      expect(await site.status(["part.raw", "none.raw"])).toEqual([
        row("part.raw", 80_000, 60_000),
        { name: "none.raw", recipe: false, size: 0, dataBytes: 0, presentBytes: 0, complete: false },
      ]);
      expect(exitCodeOf(await within(site.status(["../bad"])))).toBe(Exit.USAGE);
    });

    it("space: the images count and the free bytes of the repository's filesystem", async () => {
      expect(await site.space()).toMatchObject({ images: 0 });
      const built = [buildFrame("sp", 2, 10_000)];
      await put(built);
      await site.putRecipe(recipeOf("sp.raw", built));
      const s = await site.space();
      expect(s.images).toBe(1);
      // null: an object store, which has no free-space figure; then neither has a total.
      if (s.freeBytes === null) expect(s.totalBytes).toBeNull();
      else {
        expect(s.freeBytes).toBeGreaterThan(0);
        expect(s.totalBytes).toBeGreaterThanOrEqual(s.freeBytes);
      }
    });

    it("removeRecipes removes all or none; gc then drops the chunks only they used", async () => {
      const shared = buildFrame("rm-shared", 2, 20_000);
      const own = buildFrame("rm-own", 3, 20_000);
      await put([shared, own]);
      await site.putRecipe(recipeOf("keep.raw", [shared]));
      await site.putRecipe(recipeOf("gone.raw", [shared, own]));
      const refused = await within(site.removeRecipes(["gone.raw", "nope.raw"]));
      expect(exitCodeOf(refused)).toBe(Exit.NOT_FOUND);
      expect((await site.listRecipes()).map((r) => r.name).sort()).toEqual(["gone.raw", "keep.raw"]);

      expect(await site.removeRecipes(["gone.raw"])).toEqual(["gone.raw"]);
      expect((await site.listRecipes()).map((r) => r.name)).toEqual(["keep.raw"]);
      expect(await site.has(idsOf([own]))).toEqual([true, true, true]);

      const dry = await site.gc({ dryRun: true, maxUnused: 0 });
      expect(dry).toMatchObject({ dryRun: true, chunksDeleted: 3 });
      expect(await site.has(idsOf([own]))).toEqual([true, true, true]);
      const report = await site.gc({ maxUnused: 0 });
      expect(report).toMatchObject({ dryRun: false, chunksDeleted: 3 });
      expect(report.bytesReclaimed).toBeGreaterThan(60_000);
      expect(await site.has(idsOf([own]))).toEqual([false, false, false]);
      expect((await site.status(["keep.raw"]))[0]).toMatchObject({ complete: true, presentBytes: 40_000 });
      expectSameChunks(await receive(site.getFrames(idsOf([shared]))), expected([shared]));
    });

    it("probe returns positive bytes and seconds", async () => {
      const p = await site.probe(4 * 1024 * 1024);
      expect(p.bytes).toBeGreaterThan(0);
      expect(p.bytes).toBeLessThanOrEqual(4 * 1024 * 1024);
      expect(p.seconds).toBeGreaterThan(0);
      expect(p.rtt).toBeGreaterThanOrEqual(0);
    });

    it("concurrent getFrames and has calls all get their own right answers", async () => {
      const built = Array.from({ length: 8 }, (_, i) => buildFrame(`cc${i}`, 3, 40_000, i % 2 === 1));
      await put(built);
      const groups = [built.slice(0, 2), built.slice(2, 5), built.slice(5), built.slice(1, 7)];
      const absent = [absentId("c1"), absentId("c2")];
      const [gets, hases] = await Promise.all([
        Promise.all(groups.map((g) => receive(site.getFrames(idsOf(g))))),
        Promise.all([
          site.has(idsOf(built)),
          site.has(absent),
          site.has([absent[0]!, ...idsOf(built.slice(3, 4))]),
        ]),
      ]);
      groups.forEach((g, i) => expectSameChunks(gets[i]!, expected(g)));
      expect(hases).toEqual([idsOf(built).map(() => true), [false, false], [false, true, true, true]]);
    });

    it("every operation after close() rejects instead of hanging", async () => {
      const built = [buildFrame("closed", 2, 10_000)];
      await put(built);
      await site.close();
      closed = true;
      const outcomes = {
        has: await within(site.has(idsOf(built))),
        getFrames: await within(receive(site.getFrames(idsOf(built)))),
        putFrames: await within(site.putFrames(each([buildFrame("late", 1, 1000).frame]))),
        putRecipe: await within(site.putRecipe(recipeOf("late.raw", built))),
        getRecipe: await within(site.getRecipe("late.raw")),
        listRecipes: await within(site.listRecipes()),
        status: await within(site.status()),
        space: await within(site.space()),
        removeRecipes: await within(site.removeRecipes(["late.raw"])),
        gc: await within(site.gc()),
      };
      for (const [op, o] of Object.entries(outcomes))
        expect({ op, settled: o.settled }).toEqual({ op, settled: "rejected" });
    });

    for (const [how, cut] of Object.entries(opts.cuts ?? {}))
      it(`${how}: pending and later calls reject promptly`, async () => {
        const built = [buildFrame("cut", 2, 10_000)];
        await put(built);
        // A long download keeps a request open while the connection goes.
        const probe = within(site.probe(Limits.PROBE_BYTES), 3 * PROMPT_MS);
        const frames = within(receive(site.getFrames(idsOf(built))), 3 * PROMPT_MS);
        await new Promise((r) => setTimeout(r, 200));
        const t0 = performance.now();
        await cut();
        const pending = await probe;
        expect(pending.settled).toBe("rejected");
        expect(exitCodeOf(pending)).toBe(Exit.REMOTE);
        expect(performance.now() - t0).toBeLessThan(PROMPT_MS);
        expect((await frames).settled).not.toBe("pending");
        expect(exitCodeOf(await within(site.has(idsOf(built))))).toBe(Exit.REMOTE);
      });
  });
}
