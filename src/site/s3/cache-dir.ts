import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { join } from "node:path";
import type { S3Location } from "./url.js";

/**
 * Where this user keeps copies of an s3:// site's pack index objects: NITRO_CACHE_DIR, else
 * $XDG_CACHE_HOME/nitro, else ~/.cache/nitro; then s3/ and a digest of the endpoint, bucket and
 * prefix, so that two sites never share one. Removing it only costs fetching the index again.
 */
export function s3CacheDir(endpoint: string | undefined, location: S3Location): string {
  const root =
    process.env.NITRO_CACHE_DIR ||
    (process.env.XDG_CACHE_HOME
      ? join(process.env.XDG_CACHE_HOME, "nitro")
      : join(homedir(), ".cache", "nitro"));
  const key = createHash("sha256")
    .update(`${endpoint ?? "aws"}\0${location.bucket}\0${location.prefix}`)
    .digest("hex")
    .slice(0, 24);
  return join(root, "s3", key);
}
