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
  /** Where each chunk not yet placed goes, by id (latin1): pairs of image offset and entry index. */
  private readonly offsets = new Map<string, number[]>();
  private readonly file: ImageFile;
  /** Per recipe entry: 1 once its bytes are in the file (zero runs from the start). */
  private readonly filled: Uint8Array;
  /** The first entry not yet filled, and its offset: everything before is in the file. */
  private nextEntry = 0;
  private nextOffset = 0;
  private state: "open" | "complete" | "aborted" = "open";
  private waiters: Array<() => void> = [];

  constructor(
    readonly recipe: Recipe,
    target: string,
    force: boolean,
  ) {
    verifyRecipe(recipe);
    const n = entryCount(recipe);
    this.filled = new Uint8Array(n);
    let offset = 0;
    for (let i = 0; i < n; i++) {
      const id = entryId(recipe, i);
      if (id.equals(ZERO_ID)) this.filled[i] = 1;
      else {
        const key = id.toString("latin1");
        const at = this.offsets.get(key);
        if (at) at.push(offset, i);
        else this.offsets.set(key, [offset, i]);
      }
      offset += entryLength(recipe, i);
    }
    this.file = new ImageFile(target, recipe.size, force);
  }

  /** The temporary file being written: readable up to readyBytes() while the image is open. */
  get temporary(): string {
    return this.file.tmp;
  }

  get complete(): boolean {
    return this.state === "complete";
  }

  get aborted(): boolean {
    return this.state === "aborted";
  }

  /** Bytes from the start of the image that are all in the file (the contiguous filled prefix). */
  readyBytes(): number {
    const n = this.filled.length;
    while (this.nextEntry < n && this.filled[this.nextEntry] === 1)
      this.nextOffset += entryLength(this.recipe, this.nextEntry++);
    return this.nextOffset;
  }

  /** Resolves at the next placement, completion or abort. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private writeAt(bytes: Buffer, at: readonly number[], from: number): void {
    for (let j = from; j < at.length; j += 2) {
      this.file.write(bytes, at[j]!);
      this.filled[at[j + 1]!] = 1;
    }
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
    const runEntries: number[] = []; // entry indexes of the run's chunks, marked once written
    const flush = () => {
      if (runLength > 0) this.file.write(raw.subarray(runFrom, runFrom + runLength), runStart);
      for (const e of runEntries) this.filled[e] = 1;
      runEntries.length = 0;
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
        runEntries.push(at[1]!);
        this.writeAt(raw.subarray(o, o + c.length), at, 2);
      } else flush();
      o += c.length;
    }
    flush();
    this.notify();
  }

  /** Places one chunk at every offset the image has it; false if the image does not need it. */
  place(id: ChunkId, bytes: Buffer): boolean {
    const key = id.toString("latin1");
    const at = this.offsets.get(key);
    if (!at) return false;
    this.offsets.delete(key);
    this.writeAt(bytes, at, 0);
    this.notify();
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
    this.checkComplete();
    this.file.finish();
    this.state = "complete";
    this.notify();
  }

  /**
   * For a temporary that is only read (streamed): marks the image complete, with no rename. The
   * reader removes the temporary with abort() once it is done with it.
   */
  markComplete(): void {
    this.checkComplete();
    this.state = "complete";
    this.notify();
  }

  private checkComplete(): void {
    if (this.offsets.size > 0)
      throw new NitroError(
        Exit.INCOMPLETE,
        `image '${this.recipe.name}': ${this.offsets.size} chunks were never written to ${this.file.target}`,
      );
  }

  /** Removes the temporary (a no-op once renamed); an unfinished image counts as failed. */
  abort(): void {
    this.file.abort();
    if (this.state === "open") this.state = "aborted";
    this.notify();
  }
}
