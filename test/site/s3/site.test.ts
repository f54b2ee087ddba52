import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeS3Client } from "../../../src/site/s3/client.js";
import { S3Site } from "../../../src/site/s3/site.js";
import type { Frame } from "../../../src/store/types.js";
import { Exit } from "../../../src/util/errors.js";
import { tempDir } from "../../helpers/data.js";
import { each, frames, ids } from "./frames.js";
import { startSwift, type SwiftInstance } from "../../helpers/swift.js";

let swift: SwiftInstance;
const dirs: Array<{ cleanup: () => void }> = [];

beforeAll(async () => {
  swift = await startSwift();
  Object.assign(process.env, swift.env());
}, 90_000);

afterAll(async () => {
  await swift?.stop();
  dirs.forEach((d) => d.cleanup());
});

function cacheDir(): string {
  const t = tempDir("nitro-s3-cache-");
  dirs.push(t);
  return t.dir;
}

const open = (bucket: string, cache?: string, prefix = "site/") =>
  S3Site.open("oslo", {
    client: makeS3Client({ endpoint: swift.endpoint, pathStyle: true }),
    location: { bucket, prefix },
    cacheDir: cache,
  });

async function chunkCount(site: S3Site, wanted: Frame[]): Promise<number> {
  let n = 0;
  for await (const f of site.getFrames(ids(wanted))) n += f.chunks.length;
  return n;
}

describe("S3Site on Swift's s3api", () => {
  it("a pack larger than a part goes up as a multipart upload and reads back across parts", async () => {
    const bucket = await swift.newBucket();
    const site = await open(bucket);
    const big = frames("mp", 10, 4, 512 * 1024); // 20 MiB: three 8 MiB parts
    const r = await site.putFrames(each(big));
    expect(r).toMatchObject({ chunks: 40, skipped: 0, rawBytes: 20 * 1024 * 1024 });
    const client = swift.client();
    const listed = (await site["bucket"].list("packs/")).map((o) => o.key);
    expect(listed.length).toBe(1);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `site/${listed[0]}` }));
    client.destroy();
    // A multipart object's ETag ends in -<parts>.
    expect(head.ETag).toMatch(/-3"?$/);
    const back = new Map<string, Buffer>();
    for await (const f of site.getFrames(ids(big))) {
      let o = 0;
      for (const c of f.chunks) back.set(c.id.toString("hex"), f.payload.subarray(o, (o += c.length)));
    }
    for (const f of big)
      f.chunks.forEach((c, i) => {
        const want = f.payload.subarray(i * 512 * 1024, (i + 1) * 512 * 1024);
        expect(back.get(c.id.toString("hex"))!.equals(want)).toBe(true);
      });
    await site.close();
  });

  it("another run answers has from its cached index copies, fetching none it already holds", async () => {
    const bucket = await swift.newBucket();
    const cache = cacheDir();
    const writer = await open(bucket, cache);
    const fs = frames("cache", 3, 2, 10_000);
    await writer.putFrames(each(fs));
    await writer.close();
    const idx = readdirSync(cache).filter((f) => f.endsWith(".idx"));
    expect(idx.length).toBe(1);

    // Damage the index object in the bucket: a run with the cached copy does not read it again...
    const client = swift.client();
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `site/index/${idx[0]}`, Body: "damaged" }));
    client.destroy();
    const cached = await open(bucket, cache);
    expect(await cached.has(ids(fs))).toEqual(ids(fs).map(() => true));
    await cached.close();
    // ...while a run without the cache does, and refuses the damaged copy.
    const fresh = await open(bucket, cacheDir());
    await expect(fresh.has(ids(fs))).rejects.toMatchObject({ exitCode: Exit.CORRUPT });
    await fresh.close();
  });

  it("a chunk another writer stored since the listing is found by getFrames (the index is listed again)", async () => {
    const bucket = await swift.newBucket();
    const reader = await open(bucket, cacheDir());
    const fs = frames("later", 2, 3, 8_000);
    expect(await reader.has(ids(fs))).toEqual(ids(fs).map(() => false));
    const writer = await open(bucket, cacheDir());
    await writer.putFrames(each(fs));
    await writer.close();
    expect(await chunkCount(reader, fs)).toBe(6);
    expect(await reader.has(ids(fs))).toEqual(ids(fs).map(() => true));
    await reader.close();
  });

  it("when a pack disappears (gc), chunks it shared with another pack are served from that one", async () => {
    const bucket = await swift.newBucket();
    const [first, second, third] = await Promise.all([
      open(bucket, cacheDir()),
      open(bucket, cacheDir()),
      open(bucket, cacheDir()),
    ]);
    const shared = frames("gc-shared", 2, 2, 9_000);
    await second.has(ids(shared)); // its index is loaded now, without the first's pack
    await first.putFrames(each(shared));
    await second.putFrames(each(shared)); // stored again, in a second pack
    const packs = (await first["bucket"].list("packs/")).map((o) => o.key);
    expect(packs.length).toBe(2);
    const cache = cacheDir();
    const reader = await open(bucket, cache);
    expect(await reader.has(ids(shared))).toEqual(ids(shared).map(() => true));
    // The older pack (listed first, so the one the reader's index points at) goes away.
    const gone = packs.sort()[0]!.replace(/^packs\/(.*)\.pack$/, "$1");
    const client = swift.client();
    for (const key of [`site/index/${gone}.idx`, `site/packs/${gone}.pack`])
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    client.destroy();
    // A chunk the reader has not seen makes it list the index again.
    const later = frames("gc-later", 1, 2, 9_000);
    await third.putFrames(each(later));
    expect(await chunkCount(reader, later)).toBe(2);
    expect(await chunkCount(reader, shared)).toBe(4);
    expect(readdirSync(cache).sort()).not.toContain(`${gone}.idx`);
    await Promise.all([first, second, third, reader].map((s) => s.close()));
  });

  it("two writers at once each keep their own packs; every chunk is readable after", async () => {
    const bucket = await swift.newBucket();
    const [a, b] = await Promise.all([open(bucket, cacheDir()), open(bucket, cacheDir())]);
    const shared = frames("shared", 4, 2, 30_000);
    const onlyA = frames("only-a", 3, 2, 30_000);
    const onlyB = frames("only-b", 3, 2, 30_000);
    const [ra, rb] = await Promise.all([
      a.putFrames(each([...shared, ...onlyA])),
      b.putFrames(each([...onlyB, ...shared])),
    ]);
    expect(ra.chunks + ra.skipped).toBe(14);
    expect(rb.chunks + rb.skipped).toBe(14);
    expect((await a["bucket"].list("packs/")).length).toBe(2);
    const reader = await open(bucket, cacheDir());
    const all = [...shared, ...onlyA, ...onlyB];
    expect(await reader.has(ids(all))).toEqual(ids(all).map(() => true));
    expect(await chunkCount(reader, all)).toBe(20);
    await Promise.all([a.close(), b.close(), reader.close()]);
  });

  it("a prefix holding something else, or a missing bucket, is refused on open", async () => {
    const bucket = await swift.newBucket();
    const client = swift.client();
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: "other/nitro-site.json", Body: '{"format":"x"}' }),
    );
    client.destroy();
    await expect(open(bucket, undefined, "other/")).rejects.toMatchObject({ exitCode: Exit.CORRUPT });
    await expect(open("no-such-bucket-here")).rejects.toMatchObject({ exitCode: Exit.NOT_FOUND });
  });

  it("create falls back to a plain PUT where conditional PUT is missing (s3api answers 501)", async () => {
    const bucket = await swift.newBucket();
    const site = await open(bucket);
    const objects = site["bucket"];
    expect(await objects.create("x", Buffer.from("first"))).toBe(true);
    // No If-None-Match on s3api: the second write goes through as a plain PUT.
    expect(await objects.create("x", Buffer.from("second"))).toBe(true);
    expect((await objects.get("x"))!.toString()).toBe("second");
    expect(objects["conditional"]).toBe(false);
    await site.close();
  });

  it("listRecipes skips keys under recipes/ that are no image name", async () => {
    const bucket = await swift.newBucket();
    const site = await open(bucket);
    const client = swift.client();
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "site/recipes/a b/../c", Body: "x" }));
    client.destroy();
    expect(await site.listRecipes()).toEqual([]);
    await site.close();
  });

  it("a server that does not answer fails with REMOTE after the retries, not at once and not never", async () => {
    const dead = S3Site.open("gone", {
      client: makeS3Client({ endpoint: "http://127.0.0.1:9", pathStyle: true }),
      location: { bucket: "whatever", prefix: "" },
      retry: { attempts: 3, baseDelayMs: 50, maxDelayMs: 100 },
    });
    const t0 = performance.now();
    await expect(dead).rejects.toMatchObject({
      exitCode: Exit.REMOTE,
      message: expect.stringContaining("after 3 attempts"),
    });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(50);
  });
});
