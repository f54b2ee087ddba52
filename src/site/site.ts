import { Exit, NitroError } from "../util/errors.js";
import type { GcReport } from "../store/gc.js";
import type { ImageStatus, SpaceInfo } from "../store/status.js";
import type {
  ChunkId,
  Frame,
  PutProgress,
  PutResult,
  Recipe,
  RecipeSummary,
  StoredSizes,
} from "../store/types.js";
import type { VerifyListener, VerifyOptions, VerifyReport } from "../store/verify.js";

export type { PutProgress, PutResult } from "../store/types.js";
export type { GcReport } from "../store/gc.js";
export type { ImageStatus, SpaceInfo } from "../store/status.js";

export interface ProbeResult {
  /** Bytes received from the site and how long it took: download bandwidth site -> here. */
  bytes: number;
  seconds: number;
  /** Round-trip time of a tiny request, in seconds. */
  rtt: number;
}

/** What `nitro gc` asks of a site. */
export interface SiteGcOptions {
  /** Only report what would be reclaimed. */
  dryRun?: boolean;
  /** Percent of a pack that may be unused before its live frames are copied out (0-100). */
  maxUnused?: number;
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
   * For each id (of a chunk of that raw length), the bytes sending it takes (its share of its
   * stored, compressed frame), 0 when the site lacks it, and its frame: `has` for planning in
   * wire bytes. One round trip.
   */
  storedSizes(ids: ChunkId[], lengths: ArrayLike<number>): Promise<StoredSizes>;
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
  /**
   * What the site holds of the named images (of every image it has a recipe of when `names` is
   * undefined), computed at the site in one request. A read: a read-only site answers it too.
   */
  status(names?: string[]): Promise<ImageStatus[]>;
  /** The site's images count and the free space of its repository's filesystem. */
  space(): Promise<SpaceInfo>;
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

/** Lifecycle operations: verifying and repairing, removing images, reclaiming space. A read-only server refuses the writes among them. */
export interface MaintainSite extends WriteSite {
  readonly maintainable: true;
  /**
   * Verifies the site's store where it is, streaming progress and findings; with `drop`, then
   * deletes the damaged chunks' index entries so that they can be sent again (verify --repair).
   */
  verify(opts: VerifyOptions, onEvent?: VerifyListener): Promise<VerifyReport>;
  /**
   * Removes the images' recipes, all or none (an unknown name: NOT_FOUND, nothing removed);
   * returns the names removed. Their chunks stay until gc.
   */
  removeRecipes(names: string[]): Promise<string[]>;
  /** Reclaims the space of chunks no image uses (see src/store/gc.ts). */
  gc(opts?: SiteGcOptions): Promise<GcReport>;
}

export function isWriteSite(site: ReadSite): site is WriteSite {
  return typeof (site as Partial<WriteSite>).putFrames === "function";
}

export function isMaintainSite(site: ReadSite): site is MaintainSite {
  return (site as Partial<MaintainSite>).maintainable === true;
}

/** The site as a MaintainSite, or a clear refusal (exit 1) before anything is sent to it. */
export function requireMaintainSite(site: ReadSite): MaintainSite {
  if (!isMaintainSite(site)) throw new NitroError(Exit.FAILURE, `site ${site.name} is read-only`);
  return site;
}

/** The site as a WriteSite, or a clear refusal (exit 1) before anything is sent to it. */
export function requireWriteSite(site: ReadSite): WriteSite {
  if (!isWriteSite(site)) throw new NitroError(Exit.FAILURE, `site ${site.name} is read-only`);
  return site;
}
