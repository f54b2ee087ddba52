import { usage } from "../../util/errors.js";

/**
 * The options of an s3:// site as sites.json keeps them. Credentials, and the region and profile
 * when not given here, come from the AWS SDK's default chain (environment, ~/.aws/credentials and
 * config, AWS_PROFILE); they are never stored.
 */
export interface S3SiteOptions {
  /** The S3 API's URL when not AWS itself, e.g. http://swift.example.org:8080 (Swift, Ceph RGW, MinIO). */
  endpoint?: string;
  region?: string;
  /** Path-style addressing (http://host/BUCKET/key), which most non-AWS servers need. */
  pathStyle?: boolean;
}

/** Throws a usage error for an endpoint that is not an http(s) URL or a malformed region. */
export function checkS3Options(o: S3SiteOptions): void {
  if (o.endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(o.endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:"))
      throw usage(`--endpoint takes an http:// or https:// URL, got '${o.endpoint}'`);
  }
  if (o.region !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(o.region))
    throw usage(`--region takes a region name such as eu-west-1, got '${o.region}'`);
}
