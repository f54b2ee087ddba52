import { Exit, NitroError } from "../util/errors.js";
import { entryCount, entryId, entryLength, verifyRecipe } from "../store/recipe.js";
import type { Store } from "../store/store.js";
import { ZERO_ID, type ChunkId, type FrameChunk, type Recipe } from "../store/types.js";
import { ImageFile } from "./image-file.js";

/**
 * An image written as its chunks come, in any order (a pull writes each frame as it arrives):
 * every chunk at each offset the recipe gives it, into the sparse temporary of an ImageFile; zero
 * runs are never written and stay holes. The chunk list is checked against the digest before
 * anything is written; finish() refuses unless every chunk has been placed, then fsyncs and
 * renames. Chunks handed in must already be checked against their ids.
 */
export class ImageAssembly {
  /** Offsets of each chunk not yet placed, by id (latin1). */
  private readonly offsets = new Map<string, number[]>();
  private readonly file: ImageFile;

  constructor(
    readonly recipe: Recipe,
    target: string,
    force: boolean,
  ) {
    verifyRecipe(recipe);
    let offset = 0;
    for (let i = 0, n = entryCount(recipe); i < n; i++) {
      const id = entryId(recipe, i);
      if (!id.equals(ZERO_ID)) {
        const key = id.toString("latin1");
        const at = this.offsets.get(key);
        if (at) at.push(offset);
        else this.offsets.set(key, [offset]);
      }
      offset += entryLength(recipe, i);
    }
    this.file = new ImageFile(target, recipe.size, force);
  }

  /** Distinct chunks still to place. */
  get missing(): number {
    return this.offsets.size;
  }

  /**
   * Places the chunks of a decoded frame (`raw`: their bytes back to back). Chunks that follow
   * each other in the image as in the frame go out in one write. Chunks the image does not use,
   * or already placed, are skipped.
   */
  placeFrame(chunks: readonly FrameChunk[], raw: Buffer): void {
    let runStart = -1; // offset in the image of the run being gathered
    let runFrom = 0; // and where it starts in raw
    let runLength = 0;
    const flush = () => {
      if (runLength > 0) this.file.write(raw.subarray(runFrom, runFrom + runLength), runStart);
      runLength = 0;
    };
    let o = 0;
    for (const c of chunks) {
      const key = c.id.toString("latin1");
      const at = this.offsets.get(key);
      if (at) {
        this.offsets.delete(key);
        const first = at[0]!;
        if (runLength > 0 && runStart + runLength === first && runFrom + runLength === o)
          runLength += c.length;
        else {
          flush();
          runStart = first;
          runFrom = o;
          runLength = c.length;
        }
        for (let j = 1; j < at.length; j++) this.file.write(raw.subarray(o, o + c.length), at[j]!);
      } else flush();
      o += c.length;
    }
    flush();
  }

  /** Places one chunk at every offset the image has it; false if the image does not need it. */
  place(id: ChunkId, bytes: Buffer): boolean {
    const key = id.toString("latin1");
    const at = this.offsets.get(key);
    if (!at) return false;
    this.offsets.delete(key);
    for (const o of at) this.file.write(bytes, o);
    return true;
  }

  /** Copies the given chunks from a store (each checked against its id as it is read). */
  async placeFrom(store: Store, ids: readonly ChunkId[]): Promise<void> {
    for (let i = 0; i < ids.length; i++) {
      this.place(ids[i]!, store.getChunk(ids[i]!));
      // Lets the event loop run, so that a signal can still remove the temporary.
      if ((i & 255) === 255) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** fsync and rename into place, once every chunk is there. */
  finish(): void {
    if (this.offsets.size > 0)
      throw new NitroError(
        Exit.INCOMPLETE,
        `image '${this.recipe.name}': ${this.offsets.size} chunks were never written to ${this.file.target}`,
      );
    this.file.finish();
  }

  abort(): void {
    this.file.abort();
  }
}
