import type { ChunkId, Frame, Recipe, RecipeSummary } from "../store/types.js";
import type { ProbeResult, PutProgress, PutRecipeOptions, PutResult, ReadSite, WriteSite } from "./site.js";

/**
 * Forwards every ReadSite call to an inner site. A wrapper (throttle, retry, timeout, cache)
 * extends it and overrides only the calls it changes. On its own it is a read-only view: a
 * server that said read-only is handed out this way, so that nothing can try to write to it.
 */
export class ForwardingReadSite<S extends ReadSite = ReadSite> implements ReadSite {
  constructor(protected readonly inner: S) {}

  get name(): string {
    return this.inner.name;
  }

  has(ids: ChunkId[]): Promise<boolean[]> {
    return this.inner.has(ids);
  }

  getFrames(ids: ChunkId[]): AsyncIterable<Frame> {
    return this.inner.getFrames(ids);
  }

  getRecipe(name: string): Promise<Recipe | undefined> {
    return this.inner.getRecipe(name);
  }

  listRecipes(): Promise<RecipeSummary[]> {
    return this.inner.listRecipes();
  }

  probe(bytes: number): Promise<ProbeResult> {
    return this.inner.probe(bytes);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Forwards every WriteSite call to an inner site; the base of wrappers around writable sites. */
export class ForwardingSite<S extends WriteSite = WriteSite>
  extends ForwardingReadSite<S>
  implements WriteSite
{
  putFrames(frames: AsyncIterable<Frame>, onProgress?: (p: PutProgress) => void): Promise<PutResult> {
    return this.inner.putFrames(frames, onProgress);
  }

  putRecipe(recipe: Recipe, opts?: PutRecipeOptions): Promise<void> {
    return this.inner.putRecipe(recipe, opts);
  }
}
