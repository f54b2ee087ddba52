import { usage } from "../../util/errors.js";

/** Where an s3:// site keeps its objects: a bucket and a key prefix ("" or ending in "/"). */
export interface S3Location {
  bucket: string;
  prefix: string;
}

export const S3_URL_FORM = "s3://BUCKET[/PREFIX]";

// S3's bucket naming rules (3-63 lower-case letters, digits, '.', '-'), which Swift and Ceph accept.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_PART = /^[A-Za-z0-9._+@=-]+$/;

/** Parses `s3://BUCKET[/PREFIX]`; the prefix's parts are plain names (no '..', no empty part). */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/i.exec(url);
  if (!m) throw usage(`site URL '${url}' is not of the form ${S3_URL_FORM}`);
  const bucket = m[1]!;
  if (!BUCKET.test(bucket) || bucket.includes(".."))
    throw usage(`invalid bucket name '${bucket}' in '${url}': 3-63 lower-case letters, digits, '.', '-'`);
  const parts = (m[2] ?? "").split("/").filter((p, i, all) => p !== "" || i < all.length - 1);
  for (const p of parts)
    if (!PREFIX_PART.test(p) || p === "." || p === "..")
      throw usage(
        `invalid key prefix in '${url}': use names of letters, digits, '.', '_', '+', '@', '=', '-' separated by '/'`,
      );
  return { bucket, prefix: parts.length ? parts.join("/") + "/" : "" };
}
