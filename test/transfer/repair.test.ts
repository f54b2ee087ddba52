import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { LocalSite } from "../../src/site/local.js";
import { packPath } from "../../src/store/layout.js";
import { FRAME_HEADER_BYTES } from "../../src/store/pack.js";
import type { Store } from "../../src/store/store.js";
import { ENTRY_BYTES, type ChunkId } from "../../src/store/types.js";
import type { PullSource } from "../../src/transfer/pull.js";
import { refetchChunks, wantedChunks } from "../../src/transfer/repair.js";
import { tempDir } from "../helpers/data.js";
import { CHUNK, makeChunks, rawStore, recipeOf, storeImages } from "../store/fixtures.js";

/** Flips one byte of a chunk's data in a store of raw 32-chunk frames. */
function corrupt(store: Store, id: ChunkId): void {
  const loc = store.index.location(id)!;
  const at = loc.frameOffset + FRAME_HEADER_BYTES + 32 * ENTRY_BYTES + loc.innerOffset + 9;
  const fd = openSync(packPath(store.dir, loc.pack), "r+");
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0]! ^= 0x80;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}

const source = (store: Store): PullSource => ({
  name: store.config.site,
  site: new LocalSite(store.config.site, store),
  bandwidth: 100e6,
  cost: 0,
});

describe("refetchChunks", () => {
  const t = tempDir("nitro-repair-");
  afterAll(t.cleanup);

  it("restores every chunk some source has a good copy of, even beside a bad one, and names the lost", async () => {
    const chunks = makeChunks("repair", 64);
    const [s1, s2, dest] = ["s1", "s2", "dest"].map((n) => rawStore(t.dir, n)) as [Store, Store, Store];
    const recipe = recipeOf(dest, "img", chunks);
    const half = recipeOf(dest, "half", chunks.slice(0, 32));
    await storeImages(s1, chunks, [recipe]);
    await storeImages(s2, chunks.slice(0, 32), [half]);
    // The destination knows the images but holds none of their chunks (all dropped, say).
    await storeImages(dest, [], [recipe, half]);
    corrupt(s1, chunks[10]!.id); // bad at both holders: lost
    corrupt(s2, chunks[10]!.id);
    corrupt(s1, chunks[40]!.id); // s1 is its only holder: lost, the 31 others of its frame not
    corrupt(s2, chunks[20]!.id); // s1 has a good copy
    const site = new LocalSite("dest", dest);
    try {
      const wanted = await wantedChunks(site, [], ["img", "half"]);
      expect(wanted).toHaveLength(64);
      expect(wanted.every((w) => w.length === CHUNK)).toBe(true);
      expect(wanted.find((w) => w.id.equals(chunks[5]!.id))?.images.sort()).toEqual(["half", "img"]);
      const events: string[] = [];
      const r = await refetchChunks(site, wanted, [source(s1), source(s2)], {
        onEvent: (m) => events.push(m),
      });
      expect(r.lost.map((w) => w.id.toString("hex")).sort()).toEqual(
        [chunks[10]!.id, chunks[40]!.id].map((id) => id.toString("hex")).sort(),
      );
      expect(r.lostImages).toEqual(["half", "img"]);
      expect(r.restoredChunks).toBe(62);
      expect(r.restoredBytes).toBe(62 * CHUNK);
      expect(r.sources.reduce((n, s) => n + s.chunks, 0)).toBe(62);
      expect(events.some((m) => /not restored/.test(m))).toBe(true);
      const held = dest.has(chunks.map((c) => c.id));
      expect(held.filter((h) => !h)).toHaveLength(2);
      expect(dest.check(true).findings).toEqual([]);
      // Nothing left to fetch but the lost: a second run restores nothing more.
      const again = await refetchChunks(site, await wantedChunks(site, [], ["img", "half"]), [
        source(s1),
        source(s2),
      ]);
      expect(again).toMatchObject({ restoredChunks: 0 });
      expect(again.lost).toHaveLength(2);
    } finally {
      await Promise.all([s1, s2, dest].map((s) => s.close()));
    }
  });

  it("wants only the dropped chunks an image uses, sized from the recipes at the site", async () => {
    const chunks = makeChunks("wanted", 4);
    const dest = rawStore(t.dir, "wanted");
    await storeImages(dest, chunks.slice(0, 2), [recipeOf(dest, "img", chunks.slice(0, 2))]);
    const site = new LocalSite("wanted", dest);
    try {
      const finding = (id: ChunkId, images: string[]) => ({
        kind: "bad-hash" as const,
        chunk: id,
        pack: 1,
        offset: 0,
        images,
        detail: "",
      });
      const w = await wantedChunks(site, [finding(chunks[1]!.id, ["img"]), finding(chunks[3]!.id, [])], []);
      expect(w).toEqual([{ id: chunks[1]!.id, length: CHUNK, images: ["img"] }]);
    } finally {
      await dest.close();
    }
  });
});
