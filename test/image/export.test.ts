import { readFileSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { exportImage, exportToStream, imageRange } from "../../src/image/export.js";
import { RUN_FIELDS, restoreJobs } from "../../src/image/restore-plan.js";
import { packIds, packPath } from "../../src/store/layout.js";
import { EntriesBuilder, recipeDigest } from "../../src/store/recipe.js";
import { Store } from "../../src/store/store.js";
import type { Recipe } from "../../src/store/types.js";
import { tempDir } from "../helpers/data.js";
import { CHUNK, makeChunks, rawStore, storeImages } from "../store/fixtures.js";

const MiB = 1024 * 1024;
const chunks = makeChunks("export", 160); // 10 MiB of distinct chunks

/** An image of chunks and zero runs: chunk k at its turn, 0.. repeated, zeros in between. */
function layout(store: Store): { recipe: Recipe; bytes: Buffer } {
  const b = new EntriesBuilder();
  const parts: Buffer[] = [];
  const zeros = (n: number) => (b.addZeros(n), parts.push(Buffer.alloc(n)));
  const data = (k: number) => (b.add(chunks[k]!.id, CHUNK), parts.push(chunks[k]!.data));
  for (let k = 0; k < 100; k++) data(k);
  zeros(3 * MiB + 5);
  for (let k = 0; k < 20; k++) data(k); // repeated: read again from frames seen before
  zeros(17);
  for (let k = 100; k < 160; k++) data(k);
  const entries = b.finish();
  const bytes = Buffer.concat(parts);
  const recipe: Recipe = {
    name: "img",
    size: bytes.length,
    chunker: store.config.chunker,
    digest: recipeDigest(bytes.length, entries),
    created: new Date().toISOString(),
    entries,
  };
  return { recipe, bytes };
}

async function streamed(store: Store, recipe: Recipe, range?: { offset: number; length: number }) {
  const out = new PassThrough();
  const got: Buffer[] = [];
  // A copy: the export reuses its buffer once the write's callback has run.
  out.on("data", (d: Buffer) => got.push(Buffer.from(d)));
  await exportToStream(store, recipe, out, { range });
  return Buffer.concat(got);
}

describe("export", () => {
  const t = tempDir();
  const store = rawStore(t.dir);
  const { recipe, bytes } = layout(store);
  const ready = storeImages(store, chunks, [recipe]);
  afterAll(async () => {
    await store.close();
    t.cleanup();
  });
  afterEach(() => delete process.env.NITRO_EXPORT_THREADS);

  it("cuts a range into jobs whose runs hold exactly its data bytes, in order", async () => {
    await ready;
    for (const range of [imageRange(recipe), imageRange(recipe, 100 * CHUNK - 7, 3 * MiB + 40)]) {
      let data = 0;
      let last = -1;
      for (const job of restoreJobs(store.index, recipe, range, MiB)) {
        expect(job.bytes).toBeLessThanOrEqual(MiB);
        for (let r = 0; r < job.runs.length; r += RUN_FIELDS) {
          const [at, , len] = [job.runs[r]!, job.runs[r + 1]!, job.runs[r + 2]!];
          expect(at).toBeGreaterThan(last);
          expect(bytes.subarray(range.offset + at, range.offset + at + len).some((x) => x !== 0)).toBe(true);
          last = at + len - 1;
          data += len;
        }
      }
      const slice = bytes.subarray(range.offset, range.offset + range.length);
      const zeroRun = (a: number, n: number) =>
        Math.max(0, Math.min(a + n, range.offset + range.length) - Math.max(a, range.offset));
      expect(data).toBe(
        slice.length - zeroRun(100 * CHUNK, 3 * MiB + 5) - zeroRun(120 * CHUNK + 3 * MiB + 5, 17),
      );
    }
  });

  it.each(["1", "3", "0"])(
    "rebuilds the file and the stream byte for byte with %s worker(s)",
    async (threads) => {
      await ready;
      process.env.NITRO_EXPORT_THREADS = threads;
      const out = join(t.dir, `out-${threads}.img`);
      await exportImage(store, recipe, out);
      expect(readFileSync(out).equals(bytes)).toBe(true);
      expect(statSync(out).blocks * 512).toBeLessThan(bytes.length - 2 * MiB); // the zeros are a hole
      expect((await streamed(store, recipe)).equals(bytes)).toBe(true);
      const range = imageRange(recipe, 99 * CHUNK + 3, 2 * CHUNK + 3 * MiB);
      expect(
        (await streamed(store, recipe, range)).equals(
          bytes.subarray(range.offset, range.offset + range.length),
        ),
      ).toBe(true);
    },
  );

  it("refuses ranges outside the image", async () => {
    await ready;
    expect(() => imageRange(recipe, recipe.size + 1)).toThrow(/outside/);
    expect(() => imageRange(recipe, 10, recipe.size)).toThrow(/past the end/);
    expect(imageRange(recipe, recipe.size)).toEqual({ offset: recipe.size, length: 0 });
  });

  it("fails with CORRUPT, leaving no file, when a pack has gone", async () => {
    await ready;
    for (const id of packIds(store.dir)) unlinkSync(packPath(store.dir, id));
    const again = Store.open(store.dir); // this one has no pack open from before
    try {
      const out = join(t.dir, "gone.img");
      await expect(exportImage(again, recipe, out)).rejects.toMatchObject({ exitCode: 5 });
      expect(() => statSync(out)).toThrow();
      await expect(streamed(again, recipe)).rejects.toThrow(/pack .* missing/);
    } finally {
      await again.close();
    }
  });
});
