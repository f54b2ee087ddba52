import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import {
  PackFiles,
  allFrames,
  checkFrame,
  checkFrameNow,
  checkReportJson,
  checkStore,
  type ChunkFinding,
} from "../../src/store/check.js";
import { gcStore } from "../../src/store/gc.js";
import { removeRecipes } from "../../src/store/remove.js";
import { dropChunks } from "../../src/store/repair.js";
import { packPath } from "../../src/store/layout.js";
import { FRAME_HEADER_BYTES } from "../../src/store/pack.js";
import { ENTRY_BYTES } from "../../src/store/types.js";
import { nitro } from "../helpers/cli.js";
import { tempDir } from "../helpers/data.js";
import { makeChunks, rawStore, recipeOf, storeImages, twoPacks } from "./fixtures.js";

function flipByte(path: string, at: number): void {
  const fd = openSync(path, "r+");
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0]! ^= 0x5a;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}

describe("check", () => {
  const t = tempDir("nitro-check-");
  afterAll(t.cleanup);

  it("reports a bad frame header and, later in the same pack, a chunk's bad bytes, each with its images", async () => {
    const store = rawStore(t.dir);
    // 128 chunks of 64 KiB: four 2 MiB frames of 32 chunks in one pack.
    const chunks = makeChunks("check", 128);
    const a = recipeOf(store, "a", chunks);
    const b = recipeOf(store, "b", chunks.slice(96));
    const c = recipeOf(store, "c", chunks.slice(0, 8));
    await storeImages(store, chunks, [a, b, c]);
    expect(checkStore(store, true).findings).toEqual([]);

    const second = store.index.location(chunks[32]!.id)!;
    const victim = chunks[100]!;
    const last = store.index.location(victim.id)!;
    expect(second.pack).toBe(last.pack);
    expect(last.frameOffset).toBeGreaterThan(second.frameOffset);
    const pack = packPath(store.dir, last.pack);
    flipByte(pack, second.frameOffset); // the second frame's magic
    const header = FRAME_HEADER_BYTES + 32 * ENTRY_BYTES;
    flipByte(pack, last.frameOffset + header + last.innerOffset + 1000); // one byte of chunk 100

    const report = checkStore(store, true);
    const byKind = (kind: string) => report.findings.filter((f) => f.kind === kind) as ChunkFinding[];
    const headers = byKind("bad-header");
    expect(headers.map((f) => f.chunk.toString("hex")).sort()).toEqual(
      chunks
        .slice(32, 64)
        .map((x) => x.id.toString("hex"))
        .sort(),
    );
    expect(headers.every((f) => f.pack === second.pack && f.offset === second.frameOffset)).toBe(true);
    expect(headers[0]!.images).toEqual(["a"]);
    const hashes = byKind("bad-hash");
    expect(hashes).toHaveLength(1);
    expect(hashes[0]).toMatchObject({ chunk: victim.id, pack: last.pack, offset: last.frameOffset });
    expect(hashes[0]!.images.sort()).toEqual(["a", "b"]);
    expect(report.findings).toHaveLength(33);
    expect(report.errors[32]).toContain(victim.id.toString("hex"));
    expect(report.errors[32]).toMatch(/bad-hash.*used by a, b/);
    expect(report.frames).toBe(4);
    expect(report.chunks).toBe(128);

    // Without reading data, only the header is seen.
    expect(checkStore(store, false).findings.map((f) => f.kind)).toEqual(Array(32).fill("bad-header"));
    const json = JSON.parse(JSON.stringify(checkReportJson(report))) as {
      findings: Array<{ chunk: string }>;
    };
    expect(json.findings.map((f) => f.chunk)).toContain(victim.id.toString("hex"));
    await store.close();

    const cli = nitro(["--repo", store.dir, "--json", "check", "--read-data"]);
    expect(cli.code).toBe(5);
    expect(JSON.parse(cli.stdout)).toMatchObject({ findings: expect.any(Array), chunks: 128 });
    const text = nitro(["--repo", store.dir, "check", "--read-data"]);
    expect(text.code).toBe(5);
    expect(text.stdout).toMatch(/33 problems/);
    expect(text.stdout).toContain(
      `chunk ${victim.id.toString("hex")} in pack ${last.pack} at ${last.frameOffset}`,
    );
  });

  it("reports a missing pack and a pack cut short, and keeps announced images apart from damage", async () => {
    const store = rawStore(t.dir, "s2");
    const chunks = makeChunks("check2", 40);
    const whole = recipeOf(store, "whole", chunks);
    await storeImages(store, chunks, [whole]);
    const announced = recipeOf(store, "announced", makeChunks("elsewhere", 2));
    store.putRecipe(announced);
    const report = checkStore(store, true);
    expect(report.findings).toEqual([]);
    expect(report.incomplete).toEqual(["announced"]);

    const { truncateSync, renameSync } = await import("node:fs");
    const loc = store.index.location(chunks[39]!.id)!;
    const pack = packPath(store.dir, loc.pack);
    truncateSync(pack, loc.frameOffset + 100);
    expect(new Set(checkStore(store, false).findings.map((f) => f.kind))).toEqual(new Set(["short-read"]));
    renameSync(pack, pack + ".gone");
    const gone = checkStore(store, false).findings;
    expect(gone).toHaveLength(40);
    expect(gone.every((f) => f.kind === "missing-pack" && f.images[0] === "whole")).toBe(true);
    await store.close();
  });

  it("takes no chunk a gc moved or dropped meanwhile for damage, and a drop leaves a moved chunk alone", async () => {
    const store = rawStore(t.dir, "during-gc");
    // a and b removed: gc deletes a's pack and copies c's half of b's into a new one.
    const { b } = await twoPacks(store, "dg");
    const listed = allFrames(store.index);
    const live = b[20]!.id;
    const wasAt = store.index.location(live)!;
    removeRecipes(store, ["a", "b"]);
    await gcStore(store, {});
    expect(store.index.location(live)!.pack).not.toBe(wasAt.pack);

    const packs = new PackFiles(store.dir);
    try {
      // Read at the locations listed before the gc, every chunk looks lost...
      const stale = listed.flatMap((f) => checkFrame(f, packs, store.codec, true));
      expect(stale.length).toBe(128);
      expect(new Set(stale.map((f) => f.kind))).toEqual(new Set(["missing-pack"]));
      // ...but confirmed where they are now, none is.
      expect(listed.flatMap((f) => checkFrameNow(f, packs, store, true))).toEqual([]);
    } finally {
      packs.close();
    }
    const moved = foundAt(wasAt, live);
    expect(await dropChunks(store, [moved], 1)).toBe(0);
    expect(store.getChunk(live).equals(b[20]!.data)).toBe(true);
    expect(checkStore(store, true).findings).toEqual([]);
    await store.close();
  });
});

const foundAt = (at: { pack: number; frameOffset: number }, chunk: Buffer) => ({
  chunk,
  pack: at.pack,
  offset: at.frameOffset,
});
