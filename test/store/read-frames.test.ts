import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { blake3 } from "@napi-rs/blake-hash";
import { afterAll, expect, it } from "vitest";
import { chunkerParams } from "../../src/chunk/chunker.js";
import { addImage } from "../../src/image/ingest.js";
import { uniqueChunks } from "../../src/store/recipe.js";
import { Store } from "../../src/store/store.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";

const t = tempDir("nitro-read-frames-");
afterAll(() => t.cleanup());

it("gives back exactly the wanted chunks, each once, and whole stored frames as they are", async () => {
  // 4 KiB fixed chunks: each 2 MiB frame holds 512 of them. The wanted run starts and ends
  // mid-frame, and a second run takes part of another frame: those are regrouped.
  const store = Store.init(join(t.dir, "s"), {
    site: "s",
    chunker: chunkerParams("fixed", 4096),
    compression: { codec: "zstd", level: 1 },
  });
  const path = join(t.dir, "img");
  writeFileSync(path, pseudoRandom("read-frames", 48 * 1024 * 1024));
  const { recipe } = await addImage(store, path, { name: "img" });
  const { ids } = uniqueChunks(recipe);
  expect(ids.length).toBe(12288);
  const wanted = [...ids.slice(100, 11000), ...ids.slice(11500, 11600)];

  const got = new Map<string, number>();
  let whole = 0;
  for (const f of store.readFrames(wanted)) {
    const raw = f.chunks.reduce((n, c) => n + c.length, 0);
    const bytes = store.codec.decode(f.codec, f.payload, raw);
    let o = 0;
    for (const c of f.chunks) {
      expect(blake3(bytes.subarray(o, o + c.length)).equals(c.id)).toBe(true);
      const key = c.id.toString("hex");
      got.set(key, (got.get(key) ?? 0) + 1);
      o += c.length;
    }
    if (f.release) whole++; // sent from the pack read as it is stored
    f.release?.();
  }
  expect(got.size).toBe(wanted.length);
  expect([...got.values()].every((n) => n === 1)).toBe(true);
  expect(wanted.every((id) => got.has(id.toString("hex")))).toBe(true);
  // Frames 1-20 are wanted whole: they go as stored, without recompression.
  expect(whole).toBe(20);
  await store.close();
});
