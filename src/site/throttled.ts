import type { ChunkId, Frame, Recipe, RecipeSummary } from "../store/types.js";
import type { ProbeResult, PutProgress, PutResult, Site } from "./site.js";

/**
 * A wrapper that makes a site's chunk traffic flow no faster than `bytesPerSecond`: a simulated
 * link for local demo sites, and a rate limit (--limit) for real ones. Transports stay unaware.
 */
export class ThrottledSite implements Site {
  private nextFree = 0;

  constructor(
    private readonly inner: Site,
    readonly bytesPerSecond: number,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  /** Waits until `bytes` more fit in the budget; all calls on this site share one link. */
  private async spend(bytes: number): Promise<void> {
    const now = performance.now();
    const start = Math.max(now, this.nextFree);
    this.nextFree = start + (bytes / this.bytesPerSecond) * 1000;
    const wait = this.nextFree - now;
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  }

  has(ids: ChunkId[]): Promise<boolean[]> {
    return this.inner.has(ids);
  }

  putFrames(frames: AsyncIterable<Frame>, onProgress?: (p: PutProgress) => void): Promise<PutResult> {
    const spend = (n: number) => this.spend(n);
    async function* paced() {
      for await (const f of frames) {
        await spend(f.payload.length);
        yield f;
      }
    }
    return this.inner.putFrames(paced(), onProgress);
  }

  async *getFrames(ids: ChunkId[]): AsyncIterable<Frame> {
    for await (const f of this.inner.getFrames(ids)) {
      await this.spend(f.payload.length);
      yield f;
    }
  }

  putRecipe(recipe: Recipe): Promise<void> {
    return this.inner.putRecipe(recipe);
  }

  getRecipe(name: string): Promise<Recipe | undefined> {
    return this.inner.getRecipe(name);
  }

  listRecipes(): Promise<RecipeSummary[]> {
    return this.inner.listRecipes();
  }

  async probe(bytes: number): Promise<ProbeResult> {
    const r = await this.inner.probe(bytes);
    const t0 = performance.now();
    await this.spend(bytes);
    return { ...r, seconds: Math.max(r.seconds, (performance.now() - t0) / 1000) };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
