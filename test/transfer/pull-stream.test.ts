import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { LocalSite } from "../../src/site/local.js";
import { uniqueChunks } from "../../src/store/recipe.js";
import type { Store } from "../../src/store/store.js";
import type { ChunkId, Frame } from "../../src/store/types.js";
import { pullChunks, type PullSource } from "../../src/transfer/pull.js";
import { tempDir } from "../helpers/data.js";
import { addTestImage, newStore } from "../helpers/sites.js";

async function* framesOf(store: Store, ids: ChunkId[]): AsyncGenerator<Frame> {
  yield* store.readFrames(ids);
}

const source = (store: Store, site: LocalSite = new LocalSite(store.config.site, store)): PullSource => ({
  name: store.config.site,
  site,
  bandwidth: 50e6,
  cost: 0,
});

/** A stream that keeps what it is given, and notes how many frames had arrived at each write. */
class Collect extends Writable {
  readonly parts: Buffer[] = [];
  readonly framesAtWrite: number[] = [];
  constructor(private readonly framesSoFar: () => number = () => 0) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error) => void): void {
    this.parts.push(Buffer.from(chunk));
    this.framesAtWrite.push(this.framesSoFar());
    done();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const temporaries = (dir: string) => readdirSync(dir).filter((f) => f.includes(".nitro-tmp-"));

async function world(dir: string) {
  const origin = newStore(dir, "origin");
  const { recipe, path } = await addTestImage(origin, dir, "img");
  const { ids } = uniqueChunks(recipe);
  const far = newStore(dir, "far");
  await new LocalSite("far", far).putFrames(framesOf(origin, ids));
  return { origin, recipe, path, ids, far };
}

describe("pull with a stream: the image in order while it is fetched", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("streams the whole image, local chunks included, before the last frames arrive", async () => {
    const dir = join(t.dir, "w1");
    const { recipe, path, far, origin, ids } = await world(dir);
    const dest = newStore(dir, "dest");
    await new LocalSite("dest", dest).putFrames(
      framesOf(
        origin,
        ids.filter((_, i) => i % 4 === 0),
      ),
    );
    await origin.close();
    let frames = 0;
    const counting = Object.assign(new LocalSite("far", far), {
      async *getFrames(want: ChunkId[]): AsyncGenerator<Frame> {
        for await (const f of far.readFrames(want)) {
          frames++;
          await new Promise((r) => setTimeout(r, 2));
          yield f;
        }
      },
    });
    const out = new Collect(() => frames);
    const r = await pullChunks(dest, recipe, [source(far, counting)], {
      batchBytes: 256 * 1024,
      stream: out,
    });
    expect(r.present).toBeGreaterThan(0);
    expect(sha(out.bytes)).toBe(sha(readFileSync(path)));
    // Written while the pull ran, not after it: the first write came before the last frame.
    expect(out.framesAtWrite[0]).toBeLessThan(frames);
    expect(temporaries(dest.dir)).toEqual([]);
  });

  it("fails with a strict prefix written when the chunks' holder fails, and leaves no temporary", async () => {
    const dir = join(t.dir, "w2");
    const { recipe, path, far, origin, ids } = await world(dir);
    const dest = newStore(dir, "dest");
    // The first chunks are here, so the stream may well have started when the failure comes.
    await new LocalSite("dest", dest).putFrames(framesOf(origin, ids.slice(0, 8)));
    await origin.close();
    const failing = Object.assign(new LocalSite("far", far), {
      // eslint-disable-next-line require-yield
      async *getFrames(): AsyncGenerator<Frame> {
        throw new Error("connection reset");
      },
    });
    const out = new Collect();
    await expect(pullChunks(dest, recipe, [source(far, failing)], { stream: out })).rejects.toMatchObject({
      exitCode: 10,
    });
    const image = readFileSync(path);
    expect(out.bytes.length).toBeLessThan(image.length);
    expect(out.bytes.equals(image.subarray(0, out.bytes.length))).toBe(true);
    expect(temporaries(dest.dir)).toEqual([]);
  });
});
