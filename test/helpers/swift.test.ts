import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pseudoRandom } from "./data.js";
import { startSwift, type SwiftInstance } from "./swift.js";

describe("the Swift test server (s3api)", () => {
  let swift: SwiftInstance;

  beforeAll(async () => {
    swift = await startSwift();
  }, 90_000);

  afterAll(async () => {
    await swift?.stop();
  });

  it("stores objects and serves ranged reads over the S3 API", async () => {
    const bucket = await swift.newBucket();
    const client = swift.client();
    try {
      const body = pseudoRandom("swift-helper", 300_000);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: "a/b", Body: body }));
      const whole = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "a/b" }));
      expect(Buffer.from(await whole.Body!.transformToByteArray()).equals(body)).toBe(true);
      const part = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: "a/b", Range: "bytes=1000-1999" }),
      );
      expect(Buffer.from(await part.Body!.transformToByteArray()).equals(body.subarray(1000, 2000))).toBe(
        true,
      );
      await expect(
        client.send(new GetObjectCommand({ Bucket: bucket, Key: "absent" })),
      ).rejects.toMatchObject({
        name: "NoSuchKey",
      });
    } finally {
      client.destroy();
    }
  });

  it("stop() ends every process and the port stops answering", async () => {
    const other = await startSwift();
    const { endpoint, pids } = other;
    await other.stop();
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    await expect(fetch(`${endpoint}/healthcheck`)).rejects.toThrow();
  }, 90_000);
});
