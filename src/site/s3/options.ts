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
