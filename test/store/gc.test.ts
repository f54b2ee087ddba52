import { closeSync, openSync, readdirSync, readSync, writeSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { checkStore } from "../../src/store/check.js";
import { gcStore, packBytes } from "../../src/store/gc.js";
import { packDir, packIds, packPath } from "../../src/store/layout.js";
import { FRAME_HEADER_BYTES } from "../../src/store/pack.js";
import { ENTRY_BYTES } from "../../src/store/types.js";
import { removeRecipes } from "../../src/store/remove.js";
import { LocalSite } from "../../src/site/local.js";
import { Store } from "../../src/store/store.js";
import { tempDir } from "../helpers/data.js";
import { CHUNK, makeChunks, rawStore, recipeOf, storeImages, twoPacks } from "./fixtures.js";

const MiB = 1024 * 1024;

describe("rm and gc in the store", () => {
  const t = tempDir("nitro-gc-");
  afterAll(t.cleanup);

  it("removes recipes all or none, naming every unknown image", async () => {
    const store = rawStore(t.dir, "rm");
    const chunks = makeChunks("rm", 4);
    await storeImages(store, chunks, [recipeOf(store, "a", chunks), recipeOf(store, "b", chunks)]);
    expect(() => removeRecipes(store, ["a", "nope", "gone"])).toThrow(/'nope', 'gone'.*nothing removed/);
    try {
      removeRecipes(store, ["nope"]);
    } catch (err) {
      expect((err as { exitCode: number }).exitCode).toBe(3);
    }
    expect(store.listRecipes().map((r) => r.name)).toEqual(["a", "b"]);
    expect(removeRecipes(store, ["a", "a"])).toEqual(["a"]);
    expect(store.listRecipes().map((r) => r.name)).toEqual(["b"]);
    expect(store.getRecipe("a")).toBeUndefined();
    await store.close();
  });

  it("copies live frames out of packs with dead ones, drops the dead chunks, and keeps every image whole", async () => {
    const store = rawStore(t.dir, "half");
    const { a, b } = await twoPacks(store, "gc");
    expect(packIds(store.dir)).toHaveLength(2);
    const before = packBytes(store.dir);

    removeRecipes(store, ["a", "b"]);
    const dry = await gcStore(store, { dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, packsDeleted: 1, packsRewritten: 1, chunksDeleted: 96 });
    expect(packBytes(store.dir)).toBe(before);

    const report = await gcStore(store, {});
    expect(report).toMatchObject({ packsDeleted: 1, packsRewritten: 1, packsWritten: 1, chunksDeleted: 96 });
    expect(report.bytesReclaimed).toBe(before - packBytes(store.dir));
    expect(report.liveBytes).toBeGreaterThanOrEqual(32 * CHUNK);
    expect(report.unusedBytesAfter).toBe(0);
    expect(packBytes(store.dir)).toBeLessThan(32 * CHUNK + 64 * 1024);
    expect(store.index.counters()).toMatchObject({ chunks: 32, uniqueBytes: 32 * CHUNK });
    expect(checkStore(store, true).findings).toEqual([]);
    for (const c of b.slice(16, 48)) expect(store.getChunk(c.id).equals(c.data)).toBe(true);
    expect(store.has([a[0]!.id, b[0]!.id])).toEqual([false, false]);

    // Nothing more to do: a second run changes nothing.
    const again = await gcStore(store, {});
    expect(again).toMatchObject({ packsRewritten: 0, packsDeleted: 0, bytesReclaimed: 0 });
    await store.close();
  });

  it("treats an incomplete (announced) recipe as a root", async () => {
    const store = rawStore(t.dir, "announced");
    const chunks = makeChunks("ann", 8);
    await storeImages(store, chunks.slice(0, 4), []);
    store.putRecipe(recipeOf(store, "later", chunks));
    const r = await gcStore(store, { maxUnused: 0 });
    expect(r.chunksDeleted).toBe(0);
    expect(store.missingChunks(store.getRecipe("later")!)).toBe(4);
    await store.close();
  });

  it("after rm of every image leaves packs with no live bytes in under 1 MiB, and never reuses a pack id", async () => {
    const store = rawStore(t.dir, "all");
    const chunks = makeChunks("all", 96);
    await storeImages(store, chunks, [recipeOf(store, "x", chunks), recipeOf(store, "y", chunks.slice(5))]);
    const top = Math.max(...packIds(store.dir));
    removeRecipes(store, ["x", "y"]);
    const r = await gcStore(store, {});
    expect(r.liveBytes).toBe(0);
    expect(r.packBytesAfter).toBeLessThan(MiB);
    expect(packBytes(store.dir)).toBe(0);
    expect(store.index.counters()).toEqual({ chunks: 0, uniqueBytes: 0, storedBytes: 0 });
    expect(readdirSync(packDir(store.dir))).toEqual([`${String(top + 1).padStart(8, "0")}.pack`]);
    await store.close();

    const reopened = Store.open(store.dir);
    const fresh = makeChunks("all-again", 1);
    await storeImages(reopened, fresh, [recipeOf(reopened, "z", fresh)]);
    expect(reopened.index.location(fresh[0]!.id)!.pack).toBe(top + 2);
    await reopened.close();
  });

  it("plans again when a recipe stored during the copy uses chunks it meant to drop", async () => {
    const store = rawStore(t.dir, "revived");
    const gone = makeChunks("revived-gone", 32);
    const kept = makeChunks("revived-kept", 32);
    await storeImages(
      store,
      [...gone, ...kept],
      [recipeOf(store, "gone", gone), recipeOf(store, "kept", kept)],
    );
    removeRecipes(store, ["gone"]);
    let announced = false;
    const report = await gcStore(store, {
      onProgress: () => {
        if (announced) return;
        announced = true;
        store.putRecipe(recipeOf(store, "back", gone));
      },
    });
    expect(announced).toBe(true);
    expect(report.chunksDeleted).toBe(0);
    expect(store.missingChunks(store.getRecipe("back")!)).toBe(0);
    expect(checkStore(store, true).findings).toEqual([]);
    // Every chunk is live again: the pack stays, and the first attempt's new pack is gone.
    expect(packIds(store.dir)).toEqual([1]);
    await store.close();
  });

  it("waits for the writer lock and says who holds it", async () => {
    const store = rawStore(t.dir, "locked");
    const writer = await store.writer();
    try {
      await expect(gcStore(store, { lockWait: 0.2 })).rejects.toMatchObject({
        exitCode: 6,
        message: expect.stringMatching(/locked by another nitro process \(pid \d+\)/),
      });
    } finally {
      writer.close();
    }
    await expect(gcStore(store, { lockWait: 0.2 })).resolves.toMatchObject({ bytesReclaimed: 0 });
    await store.close();
  });

  it("waits for a push under way: its chunks come before its recipe", async () => {
    const store = rawStore(t.dir, "pushed");
    const chunks = makeChunks("pushed", 8);
    const site = new LocalSite("pushed", store, 0.2);
    async function* frames() {
      yield {
        codec: 0,
        chunks: chunks.map((c) => ({ id: c.id, length: CHUNK })),
        payload: Buffer.concat(chunks.map((c) => c.data)),
      };
    }
    await site.putFrames(frames());
    await expect(gcStore(store, { lockWait: 0.2 })).rejects.toMatchObject({
      exitCode: 6,
      message: expect.stringMatching(/a push to this repository is under way/),
    });
    await site.putRecipe(recipeOf(store, "pushed", chunks));
    const other = Store.open(store.dir);
    await site.close();
    const r = await gcStore(other, { lockWait: 0.2 });
    expect(r.chunksDeleted).toBe(0);
    expect(other.missingChunks(other.getRecipe("pushed")!)).toBe(0);
    await other.close();
  });

  it("stops at a damaged live chunk it would regroup, before deleting anything", async () => {
    const store = rawStore(t.dir, "damaged");
    const chunks = makeChunks("damaged", 32); // one 2 MiB frame
    await storeImages(store, chunks, [
      recipeOf(store, "half", chunks.slice(0, 16)),
      recipeOf(store, "all", chunks),
    ]);
    removeRecipes(store, ["all"]);
    flipPayloadByte(store, chunks[3]!.id);
    await expect(gcStore(store, {})).rejects.toMatchObject({
      exitCode: 5,
      message: expect.stringMatching(new RegExp(`chunk ${chunks[3]!.id.toString("hex")} .* is damaged`)),
    });
    expect(packIds(store.dir)).toEqual([1]);
    expect(store.index.counters().chunks).toBe(32);
    await store.close();
  });

  it("stops at a damaged chunk of a live frame it would copy whole, before deleting anything", async () => {
    const store = rawStore(t.dir, "damaged-whole");
    // Two frames of 32 in one pack: the first only "gone" uses, the second "kept" uses whole.
    const chunks = makeChunks("damaged-whole", 64);
    await storeImages(store, chunks, [
      recipeOf(store, "gone", chunks.slice(0, 32)),
      recipeOf(store, "kept", chunks.slice(32)),
    ]);
    removeRecipes(store, ["gone"]);
    const bad = chunks[40]!.id;
    flipPayloadByte(store, bad);
    await expect(gcStore(store, {})).rejects.toMatchObject({
      exitCode: 5,
      message: expect.stringMatching(new RegExp(`chunk ${bad.toString("hex")} .* is damaged`)),
    });
    expect(packIds(store.dir)).toEqual([1]);
    expect(store.index.counters().chunks).toBe(64);
    await store.close();
  });

  it("refuses a bad threshold with a usage error", async () => {
    const store = rawStore(t.dir, "bad");
    await expect(gcStore(store, { maxUnused: 101 })).rejects.toThrow(/0 to 100/);
    await store.close();
  });
});

/** Flips a byte of the chunk's bytes in its frame (a frame of 32 chunks, stored uncompressed). */
function flipPayloadByte(store: Store, id: Buffer): void {
  const loc = store.index.location(id)!;
  const fd = openSync(packPath(store.dir, loc.pack), "r+");
  const at = loc.frameOffset + FRAME_HEADER_BYTES + 32 * ENTRY_BYTES + loc.innerOffset + 7;
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0]! ^= 0xff;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}
