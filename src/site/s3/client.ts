import { S3Client } from "@aws-sdk/client-s3";
import type { S3SiteOptions } from "./options.js";

/**
 * An S3 client for a site: credentials, and the region unless set, by the SDK's default chain.
 * Retries are nitro's (retry.ts), so the SDK makes one attempt per call. Checksums only where the
 * API requires them: s3api (Swift) refuses the SDK's default aws-chunked uploads (501).
 */
export function makeS3Client(opts: S3SiteOptions): S3Client {
  // The SDK warns about Node < 22 on first use: a notice for its maintainers, not for our users.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  return new S3Client({
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    // Endpoints other than AWS ignore the region but the signer needs one.
    region:
      opts.region ??
      (process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || (opts.endpoint ? "us-east-1" : undefined)),
    forcePathStyle: opts.pathStyle ?? false,
    maxAttempts: 1,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}
