import { uniqueChunks } from "../store/recipe.js";
import type { Store } from "../store/store.js";
import type { Frame, Recipe } from "../store/types.js";
import type { PutProgress, WriteSite } from "../site/site.js";

export interface PushResult {
  site: string;
  /** Distinct chunks of the image and how many the site already had. */
  chunks: number;
  present: number;
  /** What was sent: chunks, their raw bytes and the frame bytes on the wire. */
  sentChunks: number;
  sentBytes: number;
  wireBytes: number;
  seconds: number;
}

export interface PushOptions {
  /** Replace an image of that name at the site whose recipe differs (push --force). */
  force?: boolean;
  /** Once the site said what it lacks: raw bytes to send. */
  onPlan?(site: string, bytes: number): void;
  onProgress?(site: string, p: PutProgress): void;
}

async function* frames(gen: Generator<Frame>): AsyncGenerator<Frame> {
  yield* gen;
}

/**
 * Sends one image to a site: one batched question for what it lacks, those chunks streamed as
 * stored frames (the transport pipelines them), and the recipe only once they are all durable
 * there. Idempotent: a re-run after a cut sends only what is still missing.
 */
export async function pushImage(
  store: Store,
  recipe: Recipe,
  site: WriteSite,
  opts: PushOptions = {},
): Promise<PushResult> {
  const t0 = performance.now();
  const { ids, lengths } = uniqueChunks(recipe);
  const have = await site.has(ids);
  const missing = ids.filter((_, i) => !have[i]);
  const missingBytes = lengths.reduce((s, l, i) => (have[i] ? s : s + l), 0);
  opts.onPlan?.(site.name, missingBytes);
  const res =
    missing.length > 0
      ? await site.putFrames(frames(store.readFrames(missing)), (p) => opts.onProgress?.(site.name, p))
      : { chunks: 0, rawBytes: 0, wireBytes: 0, skipped: 0 };
  await site.putRecipe(recipe, { force: opts.force ?? false });
  return {
    site: site.name,
    chunks: ids.length,
    present: ids.length - missing.length,
    sentChunks: missing.length,
    sentBytes: res.rawBytes,
    wireBytes: res.wireBytes,
    seconds: (performance.now() - t0) / 1000,
  };
}
