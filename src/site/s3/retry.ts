import { Exit, NitroError, notFound, remote } from "../../util/errors.js";

/** How often and how patiently a transient failure is retried. */
export interface RetryPolicy {
  attempts: number;
  /** First pause; each next one doubles (with jitter), up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 2000 };

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const THROTTLING = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "RequestThrottled",
  "TooManyRequestsException",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalError",
  "ServiceUnavailable",
]);
const NETWORK = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "ECONNABORTED",
]);

/** A failure worth another try: 5xx, throttling, a reset or timed-out connection. */
export function isTransient(err: unknown): boolean {
  const e = err as SdkError;
  if (err instanceof NitroError) return false;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (e.name && THROTTLING.has(e.name)) return true;
  if (e.code && NETWORK.has(e.code)) return true;
  if (e.name === "TimeoutError" || e.$retryable) return true;
  return /socket hang up|ECONNRESET|EPIPE/.test(e.message ?? "");
}

/**
 * The NitroError a failed S3 call ends as: a missing bucket is NOT_FOUND, refused credentials and
 * everything else REMOTE, each naming the site and the operation.
 */
export function s3Failure(err: unknown, what: string): NitroError {
  if (err instanceof NitroError) return err;
  const e = err as SdkError;
  const detail = `${e.name ?? "Error"}${e.message && e.message !== e.name ? `: ${e.message}` : ""}`;
  if (e.name === "NoSuchBucket") return notFound(`${what}: the bucket does not exist`);
  if (e.name === "CredentialsProviderError")
    return new NitroError(
      Exit.FAILURE,
      `${what}: no S3 credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials or AWS_PROFILE)`,
    );
  return remote(`${what}: ${detail}`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `op`, retrying transient failures with exponential backoff and full jitter; a permanent
 * failure, or the last transient one, rejects at once as a NitroError (see s3Failure).
 */
export async function withRetry<T>(
  what: string,
  op: () => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
  pause: (ms: number) => Promise<void> = sleep,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isTransient(err) || attempt >= policy.attempts) {
        const failure = s3Failure(err, what);
        if (attempt > 1 && isTransient(err)) failure.message += ` (after ${attempt} attempts)`;
        throw failure;
      }
      const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      await pause(cap / 2 + Math.random() * (cap / 2));
    }
  }
}
