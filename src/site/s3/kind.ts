import type { SiteKind } from "../kinds.js";
import { checkS3Options, type S3SiteOptions } from "./options.js";
import { parseS3Url, S3_URL_FORM } from "./url.js";

/**
 * A site in an S3 bucket under a prefix. The SDK is loaded when a site is opened, so commands
 * that do not reach one do not pay for it.
 */
export const s3Kind: SiteKind<S3SiteOptions> = {
  name: "s3",
  schemes: ["s3"],
  urlForm: S3_URL_FORM,
  checkUrl(url) {
    parseS3Url(url);
  },
  options: { endpoint: "--endpoint", region: "--region", pathStyle: "--path-style" },
  async open(cfg, opts) {
    checkS3Options(cfg);
    const [{ makeS3Client }, { S3Site }, { s3CacheDir }] = await Promise.all([
      import("./client.js"),
      import("./site.js"),
      import("./cache-dir.js"),
    ]);
    const location = parseS3Url(cfg.url);
    const opening = S3Site.open(cfg.name, {
      client: makeS3Client(cfg),
      location,
      cacheDir: s3CacheDir(cfg.endpoint, location),
      lockWait: opts.lockWait,
    });
    opts.onDialed?.();
    return opening;
  },
  async findRepository(cfg) {
    checkS3Options(cfg);
    const [{ makeS3Client }, { Bucket }, { SITE_CONFIG_KEY }] = await Promise.all([
      import("./client.js"),
      import("./bucket.js"),
      import("./layout.js"),
    ]);
    const client = makeS3Client(cfg);
    try {
      const bucket = new Bucket(client, parseS3Url(cfg.url), cfg.name);
      return (await bucket.exists(SITE_CONFIG_KEY))
        ? { found: true }
        : { found: false, why: `no nitro site format object (${SITE_CONFIG_KEY}) at ${cfg.url}` };
    } catch (err) {
      return { found: "unknown", why: err instanceof Error ? err.message : String(err) };
    } finally {
      client.destroy();
    }
  },
  async initRepository(cfg, opts) {
    // Opening an s3 site writes its format object when the prefix has none.
    const site = await s3Kind.open(cfg, opts);
    await site.close();
  },
};
