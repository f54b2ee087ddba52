import type { ChunkId, Frame } from "../store/types.js";
import type { ProbeResult, PutProgress, PutResult, WriteSite } from "./site.js";
import { ForwardingSite } from "./wrapper.js";

/**
 * A wrapper that makes a site's chunk traffic flow no faster than `bytesPerSecond`: a simulated
 * link for local demo sites, and a rate limit (--limit) for real ones. Transports stay unaware.
 */
export class ThrottledSite extends ForwardingSite {
  private nextFree = 0;

  constructor(
    inner: WriteSite,
    readonly bytesPerSecond: number,
  ) {
    super(inner);
  }

  /** Waits until `bytes` more fit in the budget; all calls on this site share one link. */
  private async spend(bytes: number): Promise<void> {
    const now = performance.now();
    const start = Math.max(now, this.nextFree);
    this.nextFree = start + (bytes / this.bytesPerSecond) * 1000;
    const wait = this.nextFree - now;
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  }

  override putFrames(
    frames: AsyncIterable<Frame>,
    onProgress?: (p: PutProgress) => void,
  ): Promise<PutResult> {
    const spend = (n: number) => this.spend(n);
    async function* paced() {
      for await (const f of frames) {
        await spend(f.payload.length);
        yield f;
      }
    }
    return super.putFrames(paced(), onProgress);
  }

  override async *getFrames(ids: ChunkId[]): AsyncIterable<Frame> {
    for await (const f of this.inner.getFrames(ids)) {
      await this.spend(f.payload.length);
      yield f;
    }
  }

  override async probe(bytes: number): Promise<ProbeResult> {
    const r = await this.inner.probe(bytes);
    const t0 = performance.now();
    await this.spend(bytes);
    return { ...r, seconds: Math.max(r.seconds, (performance.now() - t0) / 1000) };
  }
}
