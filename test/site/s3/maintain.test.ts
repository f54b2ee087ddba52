import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeS3Client } from "../../../src/site/s3/client.js";
import { LOCK_TTL_MS } from "../../../src/site/s3/lock.js";
import { S3Site } from "../../../src/site/s3/site.js";
import { recipeDigest } from "../../../src/store/recipe.js";
import { ENTRY_BYTES, type Frame, type Recipe } from "../../../src/store/types.js";
import type { VerifyEvent } from "../../../src/store/verify.js";
import { Exit } from "../../../src/util/errors.js";
import { each, frames, ids } from "./frames.js";
import { startSwift, type SwiftInstance } from "../../helpers/swift.js";

let swift: SwiftInstance;

beforeAll(async () => {
  swift = await startSwift();
  Object.assign(process.env, swift.env());
}, 90_000);

afterAll(async () => {
  await swift?.stop();
});

const open = (bucket: string, lockWait = 0) =>
  S3Site.open("oslo", {
    client: makeS3Client({ endpoint: swift.endpoint, pathStyle: true }),
    location: { bucket, prefix: "site/" },
    lockWait,
  });

function recipeOf(name: string, fs: Frame[]): Recipe {
  const chunks = fs.flatMap((f) => f.chunks);
  const entries = Buffer.alloc(chunks.length * ENTRY_BYTES);
  chunks.forEach((c, i) => {
    c.id.copy(entries, i * ENTRY_BYTES);
    entries.writeUInt32LE(c.length, i * ENTRY_BYTES + 32);
  });
  const size = chunks.reduce((s, c) => s + c.length, 0);
  return {
    name,
    size,
    chunker: { kind: "fastcdc", min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 },
    digest: recipeDigest(size, entries),
    created: "2026-12-02T00:00:00.000Z",
    entries,
  };
}

async function putObject(bucket: string, key: string, body: Buffer): Promise<void> {
  const client = swift.client();
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: `site/${key}`, Body: body }));
  client.destroy();
}

/** Flips a byte in the last chunk of the pack object (frames of incompressible data, stored as is). */
async function damageLastChunk(bucket: string, key: string): Promise<void> {
  const client = swift.client();
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `site/${key}` }));
  const bytes = Buffer.from(await got.Body!.transformToByteArray());
  client.destroy();
  bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
  await putObject(bucket, key, bytes);
}

const lockBody = (mode: string, expires: number, pid = 1) =>
  Buffer.from(JSON.stringify({ owner: "someone", host: "elsewhere", pid, mode, expires }));

describe("S3Site maintenance on Swift's s3api", () => {
  it("gc refuses (LOCKED) while another reader holds its shared lock, and proceeds once it is closed", async () => {
    const bucket = await swift.newBucket();
    const [reader, admin] = [await open(bucket), await open(bucket)];
    const fs = frames("lk", 1, 2, 10_000);
    await reader.putFrames(each(fs));
    const refused = await admin.gc().catch((e: { exitCode?: number; message: string }) => e);
    expect(refused).toMatchObject({ exitCode: Exit.LOCKED });
    expect((refused as Error).message).toMatch(/locked \(shared\) by .* pid \d+/);
    await reader.close();
    expect(await admin.gc()).toMatchObject({ dryRun: false, chunksDeleted: 2 });
    expect(await admin["bucket"].list("locks/")).toEqual([]);
    await admin.close();
  });

  it("an expired lock, or one of a dead process of this host, is ignored; a live exclusive one blocks writers", async () => {
    const bucket = await swift.newBucket();
    const site = await open(bucket);
    await putObject(bucket, "locks/old.json", lockBody("exclusive", Date.now() - 1000));
    await putObject(
      bucket,
      "locks/dead.json",
      Buffer.from(
        JSON.stringify({
          owner: "x",
          host: hostname(),
          pid: 2 ** 22 + 12345,
          mode: "exclusive",
          expires: Date.now() + LOCK_TTL_MS,
        }),
      ),
    );
    expect(await site.gc()).toMatchObject({ packsBefore: 0 });

    await putObject(bucket, "locks/live.json", lockBody("exclusive", Date.now() + LOCK_TTL_MS));
    const writer = await open(bucket);
    const refused = await writer
      .putFrames(each(frames("w", 1, 1, 1000)))
      .catch((e: { exitCode?: number }) => e);
    expect(refused).toMatchObject({ exitCode: Exit.LOCKED });
    expect(await writer.has(ids(frames("w", 1, 1, 1000)))).toEqual([false]);
    await Promise.all([site.close(), writer.close()]);
  });

  it("gc deletes a pack an interrupted push left without its index object, and nothing live", async () => {
    const bucket = await swift.newBucket();
    const site = await open(bucket);
    const fs = frames("keep", 2, 2, 20_000);
    await site.putFrames(each(fs));
    await site.putRecipe(recipeOf("keep.raw", fs));
    await putObject(bucket, "packs/zzzz-0123456789abcdef.pack", Buffer.alloc(50_000, 7));
    const dry = await site.gc({ dryRun: true });
    expect(dry).toMatchObject({ packsBefore: 2, packsDeleted: 1, chunksDeleted: 0 });
    const report = await site.gc();
    expect(report).toMatchObject({ packsBefore: 2, packsAfter: 1, packsDeleted: 1, bytesReclaimed: 50_000 });
    expect((await site["bucket"].list("packs/")).map((o) => o.key)).not.toContain(
      "packs/zzzz-0123456789abcdef.pack",
    );
    expect(await site.status(["keep.raw"])).toMatchObject([{ complete: true }]);
    await site.close();
  });

  it("gc stops at a damaged live chunk of a pack it would rewrite, before writing or deleting anything", async () => {
    const bucket = await swift.newBucket();
    const site = await open(bucket);
    const fs = frames("gd", 4, 2, 20_000);
    await site.putFrames(each(fs));
    await site.putRecipe(recipeOf("gone.raw", fs.slice(0, 2)));
    await site.putRecipe(recipeOf("kept.raw", fs.slice(2)));
    await site.removeRecipes(["gone.raw"]);
    const [pack] = await site["bucket"].list("packs/");
    await damageLastChunk(bucket, pack!.key);

    const refused = await site.gc().catch((e: { exitCode?: number; message: string }) => e);
    expect(refused).toMatchObject({
      exitCode: Exit.CORRUPT,
      message: expect.stringMatching(new RegExp(`chunk ${ids(fs)[7]!.toString("hex")} .* is damaged`)),
    });
    expect((await site["bucket"].list("packs/")).map((o) => o.key)).toEqual([pack!.key]);
    await site.close();
  });

  it("verify finds a damaged chunk and names its image; drop rewrites the pack without it", async () => {
    const bucket = await swift.newBucket();
    const site = await open(bucket);
    const fs = frames("vf", 3, 2, 20_000);
    await site.putFrames(each(fs));
    await site.putRecipe(recipeOf("vf.raw", fs));
    const [pack] = await site["bucket"].list("packs/");
    await damageLastChunk(bucket, pack!.key);

    const headersOnly = await site.verify({ images: [], readData: false, drop: false });
    expect(headersOnly.findings).toBe(0);
    const events: VerifyEvent[] = [];
    const found = await site.verify({ images: ["vf.raw"], readData: true, drop: false }, (e) => {
      events.push(e);
    });
    expect(found).toMatchObject({ chunks: 6, frames: 3, images: 1, findings: 1, dropped: 0, incomplete: [] });
    const finding = events.find((e) => e.type === "finding");
    expect(finding).toMatchObject({ finding: { kind: "bad-hash", chunk: ids(fs)[5], images: ["vf.raw"] } });
    expect(events.at(-1)).toMatchObject({ type: "progress" });

    const dropped = await site.verify({ images: [], readData: true, drop: true });
    expect(dropped).toMatchObject({ findings: 1, dropped: 1, incomplete: ["vf.raw"] });
    expect(await site.has(ids(fs))).toEqual([true, true, true, true, true, false]);
    expect((await site["bucket"].list("packs/")).map((o) => o.key)).not.toContain(pack!.key);
    expect(await site.verify({ images: [], readData: true, drop: false })).toMatchObject({
      findings: 0,
      chunks: 5,
    });
    expect(
      await site
        .verify({ images: ["nope.raw"], readData: false, drop: false })
        .catch((e: { exitCode?: number }) => e),
    ).toMatchObject({
      exitCode: Exit.NOT_FOUND,
    });
    await site.close();
  });
});
