import type { VerifyListener, VerifyOptions, VerifyReport } from "../store/verify.js";
import type { ChunkId, Frame, Recipe, RecipeSummary, StoredSizes } from "../store/types.js";
import type {
  GcReport,
  ImageStatus,
  MaintainSite,
  ProbeResult,
  PutProgress,
  PutRecipeOptions,
  PutResult,
  ReadSite,
  SiteGcOptions,
  SpaceInfo,
} from "./site.js";

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

  storedSizes(ids: ChunkId[], lengths: ArrayLike<number>): Promise<StoredSizes> {
    return this.inner.storedSizes(ids, lengths);
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

  status(names?: string[]): Promise<ImageStatus[]> {
    return this.inner.status(names);
  }

  space(): Promise<SpaceInfo> {
    return this.inner.space();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Forwards every call of a writable site (writes and the lifecycle operations) to an inner site;
 * the base of wrappers around writable sites.
 */
export class ForwardingSite<S extends MaintainSite = MaintainSite>
  extends ForwardingReadSite<S>
  implements MaintainSite
{
  readonly maintainable = true;

  putFrames(frames: AsyncIterable<Frame>, onProgress?: (p: PutProgress) => void): Promise<PutResult> {
    return this.inner.putFrames(frames, onProgress);
  }

  putRecipe(recipe: Recipe, opts?: PutRecipeOptions): Promise<void> {
    return this.inner.putRecipe(recipe, opts);
  }

  removeRecipes(names: string[]): Promise<string[]> {
    return this.inner.removeRecipes(names);
  }

  gc(opts?: SiteGcOptions): Promise<GcReport> {
    return this.inner.gc(opts);
  }

  verify(opts: VerifyOptions, onEvent?: VerifyListener): Promise<VerifyReport> {
    return this.inner.verify(opts, onEvent);
  }
}
