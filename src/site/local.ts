import { randomFillSync } from "node:crypto";
import { GcGuard } from "../store/gc-guard.js";
import type { Store } from "../store/store.js";
import { gcStore, type GcReport } from "../store/gc.js";
import { receiveFrames } from "../store/receive.js";
import { removeRecipes } from "../store/remove.js";
import { imageStatus, spaceInfo, type ImageStatus, type SpaceInfo } from "../store/status.js";
import type { ChunkId, Frame, FrameShares, Recipe, RecipeSummary } from "../store/types.js";
import type { VerifyListener, VerifyOptions, VerifyReport } from "../store/verify.js";
import type {
  MaintainSite,
  ProbeResult,
  PutProgress,
  PutRecipeOptions,
  PutResult,
  SiteGcOptions,
} from "./site.js";

/** A site whose store is in this process: a local directory, or the far end of `nitro serve`. */
export class LocalSite implements MaintainSite {
  readonly maintainable = true;
  /** Held from the first frames received until close: gc waits, as the recipe comes after them. */
  private gcGuard: GcGuard | undefined;

  constructor(
    readonly name: string,
    readonly store: Store,
    private readonly lockWait = 10,
  ) {}

  async has(ids: ChunkId[]): Promise<boolean[]> {
    return this.store.has(ids);
  }

  async storedSizes(ids: ChunkId[]): Promise<FrameShares> {
    return this.store.storedSizes(ids);
  }

  async putFrames(frames: AsyncIterable<Frame>, onProgress?: (p: PutProgress) => void): Promise<PutResult> {
    this.gcGuard ??= await GcGuard.shared(this.store.dir, this.lockWait);
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

  async status(names?: string[]): Promise<ImageStatus[]> {
    return imageStatus(this.store.index, names);
  }

  async space(): Promise<SpaceInfo> {
    return spaceInfo(this.store.dir, this.store.index);
  }

  async removeRecipes(names: string[]): Promise<string[]> {
    return removeRecipes(this.store, names);
  }

  /** This session's own pushes are over once it asks for gc: its guard would only block it. */
  async gc(opts: SiteGcOptions = {}): Promise<GcReport> {
    this.gcGuard?.release();
    this.gcGuard = undefined;
    return gcStore(this.store, { ...opts, lockWait: this.lockWait });
  }

  async close(): Promise<void> {
    this.gcGuard?.release();
    this.gcGuard = undefined;
    await this.store.close();
  }
}
