import { Exit, NitroError } from "../util/errors.js";
import { entryCount, entryId, entryLength, verifyRecipe } from "../store/recipe.js";
import type { Store } from "../store/store.js";
import { ZERO_ID, type Recipe } from "../store/types.js";
import { ImageFile } from "./image-file.js";

const WRITE_BATCH = 8 * 1024 * 1024;

/**
 * Rebuilds an image from the local store: the chunk list against the digest, every chunk's bytes.
 * It lets the event loop run every 256 chunks, so that SIGINT/SIGTERM can remove the temporary.
 */
export async function exportImage(
  store: Store,
  recipe: Recipe,
  target: string,
  opts: { force?: boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<void> {
  verifyRecipe(recipe);
  const missing = store.missingChunks(recipe);
  if (missing > 0)
    throw new NitroError(
      Exit.INCOMPLETE,
      `image '${recipe.name}' is missing ${missing} chunks in this repository (pull it from the sites that hold it)`,
    );
  const file = new ImageFile(target, recipe.size, opts.force ?? false);
  try {
    const batch = Buffer.allocUnsafe(WRITE_BATCH);
    let batchStart = 0;
    let batchFill = 0;
    let offset = 0;
    const flush = () => {
      if (batchFill > 0) file.write(batch.subarray(0, batchFill), batchStart);
      batchFill = 0;
    };
    for (let i = 0, n = entryCount(recipe); i < n; i++) {
      const id = entryId(recipe, i);
      const len = entryLength(recipe, i);
      if (id.equals(ZERO_ID)) {
        flush();
      } else {
        const chunk = store.getChunk(id);
        if (batchFill + chunk.length > WRITE_BATCH) flush();
        if (batchFill === 0) batchStart = offset;
        if (chunk.length > WRITE_BATCH) file.write(chunk, offset);
        else {
          chunk.copy(batch, batchFill);
          batchFill += chunk.length;
        }
      }
      offset += len;
      if ((i & 255) === 0) {
        opts.onProgress?.(offset, recipe.size);
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    flush();
    file.finish();
    opts.onProgress?.(recipe.size, recipe.size);
  } catch (err) {
    file.abort();
    throw err;
  }
}
