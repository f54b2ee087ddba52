import { randomFillSync } from "node:crypto";
import type { Store } from "../store/store.js";
import { receiveFrames } from "../store/receive.js";
import type { ChunkId, Frame, Recipe, RecipeSummary } from "../store/types.js";
import type { VerifyListener, VerifyOptions, VerifyReport } from "../store/verify.js";
import type { MaintainSite, ProbeResult, PutProgress, PutRecipeOptions, PutResult } from "./site.js";

/** A site whose store is in this process: a local directory, or the far end of `nitro serve`. */
export class LocalSite implements MaintainSite {
  readonly maintainable = true;

  constructor(
    readonly name: string,
    readonly store: Store,
    private readonly lockWait = 10,
  ) {}

  async has(ids: ChunkId[]): Promise<boolean[]> {
    return this.store.has(ids);
  }

  async putFrames(frames: AsyncIterable<Frame>, onProgress?: (p: PutProgress) => void): Promise<PutResult> {
    const writer = await this.store.writer(this.lockWait);
    try {
      return await receiveFrames(writer, frames, onProgress);
    } finally {
      writer.close();
    }
  }

  async *getFrames(ids: ChunkId[]): AsyncIterable<Frame> {
    yield* this.store.readFrames(ids);
  }

  async putRecipe(recipe: Recipe, opts?: PutRecipeOptions): Promise<void> {
    this.store.putRecipe(recipe, opts);
  }

  async getRecipe(name: string): Promise<Recipe | undefined> {
    return this.store.getRecipe(name);
  }

  async listRecipes(): Promise<RecipeSummary[]> {
    return this.store.listRecipes();
  }

  async verify(opts: VerifyOptions, onEvent: VerifyListener = () => {}): Promise<VerifyReport> {
    const { verifyStore } = await import("../store/verify.js");
    return verifyStore(this.store, opts, onEvent, this.lockWait);
  }

  /** In-process there is no link to measure: this times producing incompressible bytes. */
  async probe(bytes: number): Promise<ProbeResult> {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    const t0 = performance.now();
    for (let done = 0; done < bytes; done += buf.length) randomFillSync(buf);
    return { bytes, seconds: (performance.now() - t0) / 1000, rtt: 0 };
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
