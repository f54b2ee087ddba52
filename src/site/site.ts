import { Exit, NitroError } from "../util/errors.js";
import type { ChunkId, Frame, PutProgress, PutResult, Recipe, RecipeSummary } from "../store/types.js";
import type { VerifyListener, VerifyOptions, VerifyReport } from "../store/verify.js";

export type { PutProgress, PutResult } from "../store/types.js";

export interface ProbeResult {
  /** Bytes received from the site and how long it took: download bandwidth site -> here. */
  bytes: number;
  seconds: number;
  /** Round-trip time of a tiny request, in seconds. */
  rtt: number;
}

export interface PutRecipeOptions {
  /** Replace a complete image of the same name whose recipe differs (push --force). */
  force?: boolean;
}

/**
 * A named place holding a store, split by capability as desync splits Store/WriteStore/PruneStore:
 * every site can be read; a WriteSite also takes chunks and recipes; a MaintainSite also removes
 * and repairs (the lifecycle commands). A read-only server is opened as a ReadSite, so a write to
 * it is a type error, not a runtime surprise. Transports implement these interfaces; retry, rate
 * limits, timeouts and caching wrap a site (see wrapper.ts), never live inside one.
 */
export interface ReadSite {
  readonly name: string;
  /** For each id, whether the site holds that chunk. One round trip for the whole batch. */
  has(ids: ChunkId[]): Promise<boolean[]>;
  /**
   * Yields frames that together hold exactly the requested chunks (order not guaranteed).
   * Several calls may run concurrently on one site (pipelining). Rejects with NOT_FOUND if the
   * site lacks one of them.
   */
  getFrames(ids: ChunkId[]): AsyncIterable<Frame>;
  getRecipe(name: string): Promise<Recipe | undefined>;
  listRecipes(): Promise<RecipeSummary[]>;
  /** Downloads about `bytes` of incompressible data from the site and times it. */
  probe(bytes: number): Promise<ProbeResult>;
  close(): Promise<void>;
}

export interface WriteSite extends ReadSite {
  /**
   * Stores frames streamed in; resolves once all of them are durable at the site. Several frames
   * are in flight at once. A frame whose bytes do not hash to its chunk ids is refused (the
   * promise rejects with a CORRUPT NitroError).
   */
  putFrames(frames: AsyncIterable<Frame>, onProgress?: (p: PutProgress) => void): Promise<PutResult>;
  /**
   * Records an image. Refused (EXISTS) when a complete image of that name has another recipe,
   * unless `force`.
   */
  putRecipe(recipe: Recipe, opts?: PutRecipeOptions): Promise<void>;
}

/** Lifecycle operations (rm, gc, verify --repair); defined with the lifecycle issue. */
export interface MaintainSite extends WriteSite {
  readonly maintainable: true;
  /**
   * Verifies the site's store where it is, streaming progress and findings; with `drop`, then
   * deletes the damaged chunks' index entries so that they can be sent again (verify --repair).
   */
  verify(opts: VerifyOptions, onEvent?: VerifyListener): Promise<VerifyReport>;
}

export function isWriteSite(site: ReadSite): site is WriteSite {
  return typeof (site as Partial<WriteSite>).putFrames === "function";
}

export function isMaintainSite(site: ReadSite): site is MaintainSite {
  return (site as Partial<MaintainSite>).maintainable === true;
}

/** The site as a WriteSite, or a clear refusal (exit 1) before anything is sent to it. */
export function requireWriteSite(site: ReadSite): WriteSite {
  if (!isWriteSite(site)) throw new NitroError(Exit.FAILURE, `site ${site.name} is read-only`);
  return site;
}
