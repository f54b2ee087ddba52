import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ChunkFinding } from "../../src/store/check.js";
import { packPath } from "../../src/store/layout.js";
import { RepoLock } from "../../src/store/lock.js";
import { FRAME_HEADER_BYTES } from "../../src/store/pack.js";
import { dropChunks } from "../../src/store/repair.js";
import type { Store } from "../../src/store/store.js";
import { ENTRY_BYTES } from "../../src/store/types.js";
import { verifyStore, type VerifyEvent } from "../../src/store/verify.js";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import { CHUNK, makeChunks, rawStore, recipeOf, storeImages } from "./fixtures.js";

function flipByte(path: string, at: number): void {
  const fd = openSync(path, "r+");
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0]! ^= 0x5a;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}

/** 128 chunks in four frames of 32; image a uses all, b the last 32, c the first 8. */
async function seeded(dir: string, name: string) {
  const store = rawStore(dir, name);
  const chunks = makeChunks(name, 128);
  await storeImages(store, chunks, [
    recipeOf(store, "a", chunks),
    recipeOf(store, "b", chunks.slice(96)),
    recipeOf(store, "c", chunks.slice(0, 8)),
  ]);
  return { store, chunks };
}

function corruptChunk(store: Store, id: Buffer): void {
  const loc = store.index.location(id)!;
  flipByte(
    packPath(store.dir, loc.pack),
    loc.frameOffset + FRAME_HEADER_BYTES + 32 * ENTRY_BYTES + loc.innerOffset + 7,
  );
}

async function collect(store: Store, images: string[], readData: boolean, drop = false) {
  const events: VerifyEvent[] = [];
  const report = await verifyStore(store, { images, readData, drop }, (e) => void events.push(e));
  const findings = events.flatMap((e) => (e.type === "finding" ? [e.finding as ChunkFinding] : []));
  const progress = events.flatMap((e) => (e.type === "progress" ? [e] : []));
  return { report, findings, progress };
}

const hex = (b: Buffer) => b.toString("hex");

describe("verifyStore", () => {
  const t = tempDir("nitro-verify-");
  afterAll(t.cleanup);

  it("streams each damaged chunk with every image it breaks, and progress up to the total", async () => {
    const { store, chunks } = await seeded(t.dir, "streams");
    try {
      corruptChunk(store, chunks[100]!.id);
      corruptChunk(store, chunks[3]!.id);
      const structure = await collect(store, [], false);
      expect(structure.findings).toEqual([]);
      const { report, findings, progress } = await collect(store, [], true);
      expect(report).toMatchObject({
        chunks: 128,
        frames: 4,
        images: 3,
        findings: 2,
        dropped: 0,
        incomplete: [],
      });
      expect(findings.map((f) => [hex(f.chunk), f.kind, f.images.sort()])).toEqual([
        [hex(chunks[3]!.id), "bad-hash", ["a", "c"]],
        [hex(chunks[100]!.id), "bad-hash", ["a", "b"]],
      ]);
      const last = progress.at(-1)!;
      expect(last.done).toBe(last.total);
      expect(last.total).toBeGreaterThan(128 * CHUNK);
    } finally {
      await store.close();
    }
  });

  it("verifies only the chunks of the images named, and refuses an unknown image (exit 3)", async () => {
    const { store, chunks } = await seeded(t.dir, "named");
    try {
      corruptChunk(store, chunks[100]!.id);
      const c = await collect(store, ["c"], true);
      expect(c.report).toMatchObject({ chunks: 8, frames: 1, images: 1, findings: 0 });
      const b = await collect(store, ["b"], true);
      expect(b.report).toMatchObject({ chunks: 32, frames: 1, findings: 1 });
      expect(b.findings.map((f) => hex(f.chunk))).toEqual([hex(chunks[100]!.id)]);
      await expect(collect(store, ["nope"], false)).rejects.toMatchObject({ exitCode: Exit.NOT_FOUND });
    } finally {
      await store.close();
    }
  });

  it("with drop, deletes the damaged entries: absent to has, the images incomplete, the counters lower", async () => {
    const { store, chunks } = await seeded(t.dir, "drop");
    try {
      const before = store.index.counters();
      const loc = store.index.location(chunks[40]!.id)!;
      flipByte(packPath(store.dir, loc.pack), loc.frameOffset); // the whole second frame
      const { report, findings } = await collect(store, [], false, true);
      expect(findings).toHaveLength(32);
      expect(report).toMatchObject({ dropped: 32, incomplete: ["a"] });
      expect(store.has(chunks.slice(32, 64).map((c) => c.id)).some(Boolean)).toBe(false);
      expect(store.has([chunks[0]!.id, chunks[64]!.id])).toEqual([true, true]);
      const after = store.index.counters();
      expect(after.chunks).toBe(before.chunks - 32);
      expect(after.uniqueBytes).toBe(before.uniqueBytes - 32 * CHUNK);
      expect(after.storedBytes).toBe(before.storedBytes - loc.frameLength);
      expect((await collect(store, [], true)).findings).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("drops under the repository lock: a writer holding it makes the drop wait, then fail (exit 6)", async () => {
    const { store, chunks } = await seeded(t.dir, "locked");
    const lock = await RepoLock.acquire(join(store.dir, "lock"), 0);
    try {
      const at = store.index.location(chunks[0]!.id)!;
      const damaged = [{ chunk: chunks[0]!.id, pack: at.pack, offset: at.frameOffset }];
      await expect(dropChunks(store, damaged, 0.2)).rejects.toMatchObject({ exitCode: Exit.LOCKED });
      expect(store.has([chunks[0]!.id])).toEqual([true]);
    } finally {
      lock.release();
      await store.close();
    }
  });
});
