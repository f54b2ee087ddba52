import { createRequire } from "node:module";
import { open } from "node:fs/promises";
import { scanFile } from "../chunk/scan.js";
import { exists, fromSystemError, usage } from "../util/errors.js";
import { EntriesBuilder, recipeDigest, validateImageName } from "../store/recipe.js";
import type { Store } from "../store/store.js";
import type { Recipe } from "../store/types.js";

const require = createRequire(import.meta.url);
const { blake3 } = require("@napi-rs/blake-hash") as typeof import("@napi-rs/blake-hash");

export interface AddOptions {
  name: string;
  force?: boolean;
  lockWait?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface AddResult {
  recipe: Recipe;
  /** Size of the image. */
  logicalBytes: number;
  chunks: number;
  /** Bytes in holes and all-zero chunks: recorded, never stored. */
  zeroBytes: number;
  /** Chunks and bytes this image added to the store (not there before). */
  newChunks: number;
  newBytes: number;
  /** Growth of the pack bytes the index refers to. */
  storedBytes: number;
  seconds: number;
}

/** `nitro add`: one pass over the file, chunks stored once, the recipe committed last. */
export async function addImage(store: Store, path: string, opts: AddOptions): Promise<AddResult> {
  const name = validateImageName(opts.name);
  const t0 = performance.now();
  const fh = await open(path, "r").catch((err) => {
    throw fromSystemError(err, path);
  });
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw usage(`${path}: is a directory, not an image file`);
    if (!st.isFile() && !st.isBlockDevice()) throw usage(`${path}: not a regular file`);
    if (!opts.force && store.getRecipe(name))
      throw exists(
        `image '${name}' already exists (use --force to replace it, or --name to pick another name)`,
      );
    const before = store.index.counters();
    const writer = await store.writer(opts.lockWait);
    writer.warmCompression();
    try {
      const entries = new EntriesBuilder();
      const res = { chunks: 0, zeroBytes: 0, newChunks: 0, newBytes: 0 };
      await scanFile(fh, st.size, store.config.chunker, {
        chunk(data) {
          const id = blake3(data);
          entries.add(id, data.length);
          res.chunks++;
          if (writer.addChunk(id, data)) {
            res.newChunks++;
            res.newBytes += data.length;
          }
        },
        zeros(n) {
          entries.addZeros(n);
          res.zeroBytes += n;
        },
        progress: (done) => opts.onProgress?.(done, st.size),
        drain: () => writer.drain(),
      });
      const list = entries.finish();
      const recipe: Recipe = {
        name,
        size: st.size,
        chunker: store.config.chunker,
        digest: recipeDigest(st.size, list),
        created: new Date().toISOString(),
        entries: list,
      };
      await writer.commit(recipe);
      const after = store.index.counters();
      return {
        recipe,
        logicalBytes: st.size,
        chunks: res.chunks,
        zeroBytes: res.zeroBytes,
        newChunks: res.newChunks,
        newBytes: res.newBytes,
        storedBytes: after.storedBytes - before.storedBytes,
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      writer.close();
    }
  } catch (err) {
    throw fromSystemError(err, path);
  } finally {
    await fh.close();
  }
}
