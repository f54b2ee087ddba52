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
  async open(cfg) {
    checkS3Options(cfg);
    const [{ makeS3Client }, { S3Site }, { s3CacheDir }] = await Promise.all([
      import("./client.js"),
      import("./site.js"),
      import("./cache-dir.js"),
    ]);
    const location = parseS3Url(cfg.url);
    return S3Site.open(cfg.name, {
      client: makeS3Client(cfg),
      location,
      cacheDir: s3CacheDir(cfg.endpoint, location),
    });
  },
};
