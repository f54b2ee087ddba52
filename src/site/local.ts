import { randomFillSync } from "node:crypto";
import type { Store } from "../store/store.js";
import { sharedVerifier } from "../store/verify-pool.js";
import type { ChunkId, Frame, Recipe, RecipeSummary } from "../store/types.js";
import type { ProbeResult, PutProgress, PutResult, WriteSite } from "./site.js";

/** Commit (and report durable progress) after this many received payload bytes. */
const COMMIT_EVERY = 64 * 1024 * 1024;
/** Frames being checked on the verifier's thread while earlier ones are written. */
const VERIFY_AHEAD = 4;

/** A site whose store is in this process: a local directory, or the far end of `nitro serve`. */
export class LocalSite implements WriteSite {
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
    const res: PutResult = { chunks: 0, rawBytes: 0, wireBytes: 0, skipped: 0 };
    const progress = () =>
      onProgress?.({ chunks: res.chunks + res.skipped, rawBytes: res.rawBytes, wireBytes: res.wireBytes });
    let since = 0;
    const store = async ({ frame, checked }: { frame: Frame; checked?: Promise<void> }) => {
      if (checked) await checked;
      const r = writer.addFrame(frame, checked !== undefined);
      frame.release?.();
      await writer.drain();
      res.chunks += r.stored;
      res.skipped += r.skipped;
      res.rawBytes += r.storedBytes;
      res.wireBytes += frame.payload.length;
      since += frame.payload.length;
      if (since >= COMMIT_EVERY) {
        await writer.commit();
        since = 0;
        progress();
      }
    };
    try {
      const ahead: { frame: Frame; checked?: Promise<void> }[] = [];
      for await (const frame of frames) {
        const checked = sharedVerifier?.verify(frame);
        checked?.catch(() => undefined); // awaited in order by store()
        ahead.push({ frame, checked });
        if (ahead.length > VERIFY_AHEAD) await store(ahead.shift()!);
      }
      for (const item of ahead.splice(0)) await store(item);
      await writer.commit();
      progress();
      return res;
    } finally {
      writer.close();
    }
  }

  async *getFrames(ids: ChunkId[]): AsyncIterable<Frame> {
    yield* this.store.readFrames(ids);
  }

  async putRecipe(recipe: Recipe): Promise<void> {
    this.store.putRecipe(recipe);
  }

  async getRecipe(name: string): Promise<Recipe | undefined> {
    return this.store.getRecipe(name);
  }

  async listRecipes(): Promise<RecipeSummary[]> {
    return this.store.listRecipes();
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
