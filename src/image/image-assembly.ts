import { Exit, NitroError } from "../util/errors.js";
import { entryCount, entryId, entryLength, verifyRecipe } from "../store/recipe.js";
import type { Store } from "../store/store.js";
import { ZERO_ID, type ChunkId, type FrameChunk, type Recipe } from "../store/types.js";
import type { FramePlacement } from "../store/verify-pool.js";
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
  /** Reservations not yet committed or cancelled: the file stays open until they are. */
  private reserved = 0;
  private closeWhenSettled = false;

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

  private writeAt(bytes: Buffer, at: readonly number[]): void {
    for (let j = 0; j < at.length; j += 2) {
      this.file.write(bytes, at[j]!);
      this.filled[at[j + 1]!] = 1;
    }
  }

  /** Where the image goes. */
  get target(): string {
    return this.file.target;
  }

  /** The chunks not placed (nor reserved) yet. */
  missingIds(): ChunkId[] {
    return [...this.offsets.keys()].map((key) => Buffer.from(key, "latin1"));
  }

  /** Resolves once no reservation is outstanding. */
  async settled(): Promise<void> {
    while (this.reserved > 0) await this.changed();
  }

  /** Distinct chunks still to place. */
  get missing(): number {
    return this.offsets.size;
  }

  /**
   * Places the chunks of a decoded frame (`raw`: their bytes back to back). Chunks the image does
   * not use, or already placed, are skipped.
   */
  placeFrame(chunks: readonly FrameChunk[], raw: Buffer): void {
    const r = this.reserve(chunks, false);
    if (!r) return;
    const s = r.spans;
    try {
      for (let j = 0; j < s.length; j += 3)
        this.file.write(raw.subarray(s[j]!, s[j]! + s[j + 1]!), s[j + 2]!);
    } catch (err) {
      r.cancel();
      throw err;
    }
    r.commit();
  }

  /**
   * Takes the chunks of a frame that are still to place and says where their bytes go: chunks
   * that follow each other in the image as in the frame make one span. Undefined when the image
   * needs none of them.
   */
  reserveFrame(chunks: readonly FrameChunk[]): FramePlacement | undefined {
    return this.reserve(chunks, true);
  }

  /** `byOthers`: the spans are written by someone else (counted here for the file's syncs). */
  private reserve(chunks: readonly FrameChunk[], byOthers: boolean): FramePlacement | undefined {
    const spans: number[] = [];
    const entries: number[] = [];
    const taken: Array<[string, number[]]> = [];
    let o = 0;
    for (const c of chunks) {
      const key = c.id.toString("latin1");
      const at = this.offsets.get(key);
      if (at) {
        this.offsets.delete(key);
        taken.push([key, at]);
        for (let j = 0; j < at.length; j += 2) {
          const n = spans.length;
          if (n > 0 && spans[n - 3]! + spans[n - 2]! === o && spans[n - 1]! + spans[n - 2]! === at[j])
            spans[n - 2]! += c.length;
          else spans.push(o, c.length, at[j]!);
          entries.push(at[j + 1]!);
        }
      }
      o += c.length;
    }
    if (taken.length === 0) return undefined;
    let bytes = 0;
    for (let j = 1; j < spans.length; j += 3) bytes += spans[j]!;
    this.reserved++;
    let settled = false;
    const settle = () => {
      if (settled) throw new Error("a reservation settles once");
      settled = true;
      this.reserved--;
      if (this.reserved === 0 && this.closeWhenSettled) this.file.close();
      this.notify();
    };
    return {
      fd: this.file.descriptor,
      spans: Float64Array.from(spans),
      commit: () => {
        settle();
        for (const e of entries) this.filled[e] = 1;
        if (byOthers) this.file.wrote(bytes);
      },
      cancel: () => {
        settle();
        for (const [key, at] of taken) this.offsets.set(key, at);
      },
    };
  }

  /** Places one chunk at every offset the image has it; false if the image does not need it. */
  place(id: ChunkId, bytes: Buffer): boolean {
    const key = id.toString("latin1");
    const at = this.offsets.get(key);
    if (!at) return false;
    this.offsets.delete(key);
    this.writeAt(bytes, at);
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
    if (this.reserved > 0) throw new Error("image assembly: writes still in flight");
    if (this.offsets.size > 0)
      throw new NitroError(
        Exit.INCOMPLETE,
        `image '${this.recipe.name}': ${this.offsets.size} chunks were never written to ${this.file.target}`,
      );
  }

  /** Removes the temporary (a no-op once renamed); an unfinished image counts as failed. */
  abort(): void {
    if (this.reserved > 0) {
      this.file.discard();
      this.closeWhenSettled = true;
    } else this.file.abort();
    if (this.state === "open") this.state = "aborted";
    this.notify();
  }
}
