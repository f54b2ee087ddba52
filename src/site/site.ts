import type { ChunkId, Frame, Recipe, RecipeSummary } from "../store/types.js";

export interface PutProgress {
  /** Frames and chunk bytes (uncompressed) acknowledged durable by the site so far. */
  chunks: number;
  rawBytes: number;
  /** Bytes of frame payload sent so far. */
  wireBytes: number;
}

export interface PutResult {
  chunks: number;
  rawBytes: number;
  wireBytes: number;
  /** Chunks the site already had (it skips them). */
  skipped: number;
}

export interface ProbeResult {
  /** Bytes received from the site and how long it took: download bandwidth site -> here. */
  bytes: number;
  seconds: number;
  /** Round-trip time of a tiny request, in seconds. */
  rtt: number;
}

/**
 * A named place holding a store. Every transport implements this one interface: LocalSite (the
 * store engine in-process) and the SSH site (the same engine behind `nitro serve --stdio`).
 * Retry, rate limits and caching are wrappers around a Site, never inside one.
 */
export interface Site {
  readonly name: string;
  /** For each id, whether the site holds that chunk. One round trip for the whole batch. */
  has(ids: ChunkId[]): Promise<boolean[]>;
  /**
   * Stores frames streamed in; resolves once all of them are durable at the site. Several frames
   * are in flight at once. A frame whose bytes do not hash to its chunk ids is refused (the
   * promise rejects with a CORRUPT NitroError).
   */
  putFrames(frames: AsyncIterable<Frame>, onProgress?: (p: PutProgress) => void): Promise<PutResult>;
  /**
   * Yields frames that together hold exactly the requested chunks (order not guaranteed).
   * Several calls may run concurrently on one site (pipelining). Rejects with NOT_FOUND if the
   * site lacks one of them.
   */
  getFrames(ids: ChunkId[]): AsyncIterable<Frame>;
  putRecipe(recipe: Recipe): Promise<void>;
  getRecipe(name: string): Promise<Recipe | undefined>;
  listRecipes(): Promise<RecipeSummary[]>;
  /** Downloads about `bytes` of incompressible data from the site and times it. */
  probe(bytes: number): Promise<ProbeResult>;
  close(): Promise<void>;
}
