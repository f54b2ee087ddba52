import { afterAll, describe, expect, it } from "vitest";
import { receiveFrames, verifyAhead } from "../../src/store/receive.js";
import type { Frame } from "../../src/store/types.js";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import { CHUNK, makeChunks, rawStore, storeImages } from "./fixtures.js";

async function* each(frames: Frame[]): AsyncIterable<Frame> {
  for (const f of frames) yield f;
}

/** A copy of the frame with one payload byte changed: its chunk no longer matches its id. */
function damaged(frame: Frame): Frame {
  const payload = Buffer.from(frame.payload);
  payload[10]! ^= 1;
  return { codec: frame.codec, chunks: frame.chunks, payload };
}

describe("receiving frames", () => {
  const t = tempDir("nitro-receive-");
  afterAll(t.cleanup);
  const chunks = makeChunks("receive", 12);

  async function sourceFrames(): Promise<Frame[]> {
    const source = rawStore(t.dir, `src-${Math.random().toString(36).slice(2)}`);
    await storeImages(source, chunks, []);
    // One frame per chunk, copied out of the source's recycled buffers.
    const frames = chunks.map((c) => {
      const [f] = [...source.readFrames([c.id])];
      const frame = {
        codec: f!.codec,
        chunks: f!.chunks.map((x) => ({ ...x })),
        payload: Buffer.from(f!.payload),
      };
      f!.release?.();
      return frame;
    });
    await source.close();
    return frames;
  }

  it("verifyAhead yields every frame in order, checked on the worker", async () => {
    const frames = await sourceFrames();
    const got: string[] = [];
    for await (const { frame, verified } of verifyAhead(each(frames))) {
      expect(verified).toBe(true);
      got.push(frame.chunks[0]!.id.toString("hex"));
    }
    expect(got).toEqual(chunks.map((c) => c.id.toString("hex")));
  });

  it("verifyAhead yields each frame once checked, without waiting for the next to arrive", async () => {
    const frames = await sourceFrames();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    async function* stalling(): AsyncIterable<Frame> {
      yield frames[0]!;
      yield frames[1]!;
      await gate; // a stream that stalls: the frames already in must come through
      yield frames[2]!;
    }
    const got: number[] = [];
    for await (const { frame } of verifyAhead(stalling())) {
      got.push(frames.indexOf(frame));
      if (got.length === 2) open();
    }
    expect(got).toEqual([0, 1, 2]);
  });

  it("verifyAhead stops with CORRUPT at a bad frame, after yielding the ones before it", async () => {
    const frames = await sourceFrames();
    frames[7] = damaged(frames[7]!);
    let seen = 0;
    await expect(
      (async () => {
        for await (const _ of verifyAhead(each(frames))) seen++;
      })(),
    ).rejects.toMatchObject({ exitCode: Exit.CORRUPT });
    expect(seen).toBe(7);
  });

  it("receiveFrames stores and commits every frame, and skips chunks already held", async () => {
    const frames = await sourceFrames();
    const dest = rawStore(t.dir, "dest");
    await storeImages(dest, chunks.slice(0, 2), []);
    const writer = await dest.writer();
    const progress: number[] = [];
    try {
      const res = await receiveFrames(writer, each(frames), (p) => progress.push(p.chunks));
      expect(res).toMatchObject({ chunks: 10, skipped: 2, rawBytes: 10 * CHUNK });
      expect(res.wireBytes).toBe(frames.reduce((s, f) => s + f.payload.length, 0));
    } finally {
      writer.close();
    }
    expect(progress.at(-1)).toBe(12);
    expect(dest.has(chunks.map((c) => c.id)).every(Boolean)).toBe(true);
    await dest.close();
  });

  it("receiveFrames refuses a damaged frame and keeps nothing of it", async () => {
    const frames = await sourceFrames();
    frames[3] = damaged(frames[3]!);
    const dest = rawStore(t.dir, "dest2");
    const writer = await dest.writer();
    try {
      await expect(receiveFrames(writer, each(frames))).rejects.toMatchObject({ exitCode: Exit.CORRUPT });
    } finally {
      writer.close();
    }
    expect(dest.has([chunks[3]!.id])).toEqual([false]);
    await dest.close();
  });
});
