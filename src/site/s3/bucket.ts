import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { corrupt } from "../../util/errors.js";
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from "./retry.js";
import type { S3Location } from "./url.js";

/** Objects larger than this go up as multipart uploads of parts this size, several at once. */
export const PART_BYTES = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 4;

export interface ListedObject {
  /** Relative to the site's prefix. */
  key: string;
  size: number;
}

/**
 * The site's objects under its prefix: every call retried on transient failures (retry.ts) and
 * failing as a NitroError that names the site and the key.
 */
export class Bucket {
  /** Whether the server honours `If-None-Match: *` on PUT; unknown until the first try. */
  private conditional: boolean | undefined;

  constructor(
    private readonly client: S3Client,
    readonly location: S3Location,
    private readonly siteName: string,
    private readonly policy: RetryPolicy = DEFAULT_RETRY,
  ) {}

  private what(op: string, key: string): string {
    return `site '${this.siteName}' (s3://${this.location.bucket}/${this.location.prefix}${key}): ${op}`;
  }

  private full(key: string): string {
    return this.location.prefix + key;
  }

  /** The whole object, or undefined when there is none. */
  async get(key: string): Promise<Buffer | undefined> {
    return withRetry(
      this.what("get", key),
      async () => {
        try {
          const r = await this.client.send(
            new GetObjectCommand({ Bucket: this.location.bucket, Key: this.full(key) }),
          );
          return Buffer.from(await r.Body!.transformToByteArray());
        } catch (err) {
          if ((err as { name?: string }).name === "NoSuchKey") return undefined;
          throw err;
        }
      },
      this.policy,
    );
  }

  /** `length` bytes from `start`; a shorter answer (a truncated object) is an error. */
  async getRange(key: string, start: number, length: number): Promise<Buffer> {
    return withRetry(
      this.what(`get bytes ${start}-${start + length - 1}`, key),
      async () => {
        const r = await this.client.send(
          new GetObjectCommand({
            Bucket: this.location.bucket,
            Key: this.full(key),
            Range: `bytes=${start}-${start + length - 1}`,
          }),
        );
        const bytes = Buffer.from(await r.Body!.transformToByteArray());
        if (bytes.length !== length)
          throw corrupt(`got ${bytes.length} bytes of ${length}: truncated object`);
        return bytes;
      },
      this.policy,
    );
  }

  async exists(key: string): Promise<boolean> {
    return withRetry(
      this.what("head", key),
      async () => {
        try {
          await this.client.send(
            new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.full(key) }),
          );
          return true;
        } catch (err) {
          const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
          if (e.name === "NotFound" || e.$metadata?.httpStatusCode === 404) return false;
          throw err;
        }
      },
      this.policy,
    );
  }

  /** Stores an object; above PART_BYTES as a multipart upload (an interrupted one is aborted). */
  async put(key: string, body: Buffer): Promise<void> {
    const params = { Bucket: this.location.bucket, Key: this.full(key), Body: body };
    await withRetry(
      this.what("put", key),
      async () => {
        if (body.length <= PART_BYTES) await this.client.send(new PutObjectCommand(params));
        else
          await new Upload({
            client: this.client,
            params,
            partSize: PART_BYTES,
            queueSize: PARTS_IN_FLIGHT,
            leavePartsOnError: false,
          }).done();
      },
      this.policy,
    );
  }

  /**
   * Stores an object unless one exists under that key (`If-None-Match: *`); false when one does.
   * A server without conditional PUT (s3api answers 501) gets a plain PUT, this time and after.
   */
  async create(key: string, body: Buffer): Promise<boolean> {
    if (this.conditional === false || body.length > PART_BYTES) {
      await this.put(key, body);
      return true;
    }
    const params = { Bucket: this.location.bucket, Key: this.full(key), Body: body, IfNoneMatch: "*" };
    const outcome = await withRetry(
      this.what("create", key),
      async () => {
        try {
          await this.client.send(new PutObjectCommand(params));
          return "created" as const;
        } catch (err) {
          const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
          const status = e.$metadata?.httpStatusCode;
          if (status === 412 || e.name === "PreconditionFailed") return "exists" as const;
          // 409 ConditionalRequestConflict: another conditional write of that key is under way.
          if (status === 501 || e.name === "NotImplemented") return "unsupported" as const;
          throw err;
        }
      },
      this.policy,
    );
    if (outcome === "unsupported") {
      this.conditional = false;
      await this.put(key, body);
      return true;
    }
    this.conditional = true;
    return outcome === "created";
  }

  /** Deletes an object; one already gone is not an error (S3 answers 204 either way). */
  async delete(key: string): Promise<void> {
    await withRetry(
      this.what("delete", key),
      () => this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.full(key) })),
      this.policy,
    );
  }

  /** Every object whose key starts with `sub`, page by page. */
  async list(sub: string): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    let token: string | undefined;
    do {
      const page = await withRetry(
        this.what("list", sub),
        () =>
          this.client.send(
            new ListObjectsV2Command({
              Bucket: this.location.bucket,
              Prefix: this.full(sub),
              ContinuationToken: token,
            }),
          ),
        this.policy,
      );
      for (const o of page.Contents ?? [])
        if (o.Key) out.push({ key: o.Key.slice(this.location.prefix.length), size: o.Size ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }
}
