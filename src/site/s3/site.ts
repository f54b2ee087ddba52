import type { S3Client } from "@aws-sdk/client-s3";
import { FrameCodec } from "../../store/codec.js";
import {
  Codec,
  type ChunkId,
  type Frame,
  type Recipe,
  type RecipeSummary,
  type StoredSizes,
} from "../../store/types.js";
import { corrupt, remote } from "../../util/errors.js";
import { statusNames, statusOf } from "../../store/status.js";
import type { VerifyListener, VerifyOptions, VerifyReport } from "../../store/verify.js";
import type {
  GcReport,
  ImageStatus,
  MaintainSite,
  ProbeResult,
  PutProgress,
  PutRecipeOptions,
  PutResult,
  SiteGcOptions,
  SpaceInfo,
} from "../site.js";
import { Bucket } from "./bucket.js";
import { SITE_CONFIG_KEY, SITE_FORMAT, SITE_VERSION } from "./layout.js";
import { probeBucket } from "./probe.js";
import { putFramesToBucket } from "./put-frames.js";
import { readFramesFromBucket } from "./read-frames.js";
import { gcBucket } from "./gc.js";
import { SiteLocks, type HeldLock } from "./lock.js";
import {
  allRecipesInBucket,
  getRecipeFromBucket,
  listRecipesInBucket,
  putRecipeToBucket,
  removeRecipesFromBucket,
} from "./recipes.js";
import { mapLimit } from "./parallel.js";
import { verifyBucket } from "./verify.js";
import type { RetryPolicy } from "./retry.js";
import { SiteIndex } from "./site-index.js";
import type { S3Location } from "./url.js";

export interface S3SiteParts {
  client: S3Client;
  location: S3Location;
  /** Where copies of the site's pack index objects are kept between runs; none: memory only. */
  cacheDir?: string;
  retry?: RetryPolicy;
  /** Seconds to wait for a conflicting lock (gc against readers and writers); default 10. */
  lockWait?: number;
}

/**
 * A site kept in an S3 bucket (AWS, Swift's s3api, Ceph RGW, MinIO) under a key prefix, in
 * nitro's own formats (see layout.ts). Opened with `S3Site.open`, which checks (or, for an empty
 * prefix, writes) the site's format object.
 *
 * Reading or writing frames takes a shared lock object (lock.ts) held until close; gc and
 * verify's repair take an exclusive one, so packs are never deleted under a reader or a writer.
 */
export class S3Site implements MaintainSite {
  readonly maintainable = true;
  private readonly bucket: Bucket;
  private readonly index: SiteIndex;
  private readonly codec = new FrameCodec(Codec.Zstd, 3);
  private readonly locks: SiteLocks;
  private shared: Promise<HeldLock> | undefined;
  private closed = false;

  private constructor(
    readonly name: string,
    private readonly parts: S3SiteParts,
  ) {
    this.bucket = new Bucket(parts.client, parts.location, name, parts.retry);
    this.index = new SiteIndex(this.bucket, parts.cacheDir);
    this.locks = new SiteLocks(this.bucket, name, parts.lockWait ?? 10);
  }

  /** The shared lock of this site object, taken on first read or write of frames. */
  private async session(): Promise<void> {
    await (this.shared ??= this.locks.acquire("shared").catch((err: unknown) => {
      this.shared = undefined;
      throw err;
    }));
  }

  private async exclusively<T>(fn: () => Promise<T>): Promise<T> {
    const lock = await this.locks.acquire("exclusive");
    try {
      return await fn();
    } finally {
      await lock.release();
      await this.index.refresh();
    }
  }

  static async open(name: string, parts: S3SiteParts): Promise<S3Site> {
    const site = new S3Site(name, parts);
    try {
      await site.checkFormat();
    } catch (err) {
      parts.client.destroy();
      throw err;
    }
    return site;
  }

  private async checkFormat(): Promise<void> {
    const where = `site '${this.name}' (s3://${this.parts.location.bucket}/${this.parts.location.prefix})`;
    const bytes = await this.bucket.get(SITE_CONFIG_KEY);
    if (!bytes) {
      // Two first writers at once: one creates it (or, without conditional PUT, both write it).
      const config = { format: SITE_FORMAT, version: SITE_VERSION, created: new Date().toISOString() };
      if (await this.bucket.create(SITE_CONFIG_KEY, Buffer.from(JSON.stringify(config, null, 2) + "\n")))
        return;
      return this.checkFormat();
    }
    let config: { format?: unknown; version?: unknown };
    try {
      config = JSON.parse(bytes.toString("utf8")) as typeof config;
    } catch {
      throw corrupt(`${where}: ${SITE_CONFIG_KEY} is not JSON`);
    }
    if (config.format !== SITE_FORMAT)
      throw corrupt(`${where}: ${SITE_CONFIG_KEY} is not a nitro site's (format ${String(config.format)})`);
    if (config.version !== SITE_VERSION)
      throw corrupt(`${where}: format version ${String(config.version)}, this nitro reads ${SITE_VERSION}`);
  }

  private live(): void {
    if (this.closed) throw remote(`site '${this.name}' is closed`);
  }

  async has(ids: ChunkId[]): Promise<boolean[]> {
    this.live();
    await this.index.ensure();
    return ids.map((id) => this.index.has(id));
  }

  async storedSizes(ids: ChunkId[]): Promise<StoredSizes> {
    this.live();
    await this.index.ensure();
    return this.index.storedSizes(ids);
  }

  async *getFrames(ids: ChunkId[]): AsyncIterable<Frame> {
    this.live();
    await this.session();
    yield* readFramesFromBucket(this.bucket, this.index, this.codec, ids, this.name);
  }

  async putFrames(frames: AsyncIterable<Frame>, onProgress?: (p: PutProgress) => void): Promise<PutResult> {
    this.live();
    await this.session();
    return putFramesToBucket(this.bucket, this.index, this.codec, frames, onProgress);
  }

  async putRecipe(recipe: Recipe, opts: PutRecipeOptions = {}): Promise<void> {
    this.live();
    await putRecipeToBucket(this.bucket, this.index, recipe, opts.force === true);
  }

  async getRecipe(name: string): Promise<Recipe | undefined> {
    this.live();
    return getRecipeFromBucket(this.bucket, name);
  }

  async listRecipes(): Promise<RecipeSummary[]> {
    this.live();
    return listRecipesInBucket(this.bucket);
  }

  async probe(bytes: number): Promise<ProbeResult> {
    this.live();
    return probeBucket(this.bucket, bytes);
  }

  async status(names?: string[]): Promise<ImageStatus[]> {
    this.live();
    const asked = statusNames(names);
    const [recipes] = await Promise.all([
      asked
        ? mapLimit(asked, 8, async (n) => ({ n, r: await getRecipeFromBucket(this.bucket, n) }))
        : allRecipesInBucket(this.bucket).then((rs) => rs.map((r) => ({ n: r.name, r }))),
      this.index.refresh(),
    ]);
    return recipes.map(({ n, r }) => statusOf(n, r, (id) => this.index.has(id)));
  }

  /** An object store has no free-space figure: null. */
  async space(): Promise<SpaceInfo> {
    this.live();
    return { images: (await listRecipesInBucket(this.bucket)).length, freeBytes: null, totalBytes: null };
  }

  async removeRecipes(names: string[]): Promise<string[]> {
    this.live();
    return removeRecipesFromBucket(this.bucket, names);
  }

  async gc(opts: SiteGcOptions = {}): Promise<GcReport> {
    this.live();
    return this.exclusively(async () =>
      gcBucket(this.bucket, this.codec, await allRecipesInBucket(this.bucket), opts),
    );
  }

  async verify(opts: VerifyOptions, onEvent?: VerifyListener): Promise<VerifyReport> {
    this.live();
    const run = async () =>
      verifyBucket(this.bucket, this.codec, await allRecipesInBucket(this.bucket), opts, onEvent);
    if (opts.drop) return this.exclusively(run);
    await this.session();
    return run();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const lock = this.shared;
    this.shared = undefined;
    if (lock) await lock.then((l) => l.release()).catch(() => undefined);
    this.parts.client.destroy();
  }
}
