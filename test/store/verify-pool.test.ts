import { blake3 } from "@napi-rs/blake-hash";
import { describe, expect, it } from "vitest";
import { FrameCodec } from "../../src/store/codec.js";
import { FrameVerifier } from "../../src/store/verify-pool.js";
import { Codec, type Frame } from "../../src/store/types.js";
import { Exit } from "../../src/util/errors.js";
import { pseudoRandom, pseudoText } from "../helpers/data.js";

function frameOf(datas: Buffer[]): Frame {
  const { codec, payload } = new FrameCodec(Codec.Zstd, 3).encode(Buffer.concat(datas));
  return { codec, chunks: datas.map((d) => ({ id: blake3(d), length: d.length })), payload };
}

describe("FrameVerifier (checks received frames on a worker thread)", () => {
  const verifier = new FrameVerifier();
  const datas = [pseudoText("a", 40_000), pseudoRandom("b", 70_000), pseudoText("c", 5)];

  it("accepts a frame whose chunks all hash to their ids, compressed or not", async () => {
    const frame = frameOf(datas);
    expect(frame.codec).toBe(Codec.Zstd);
    await expect(verifier.verify(frame)).resolves.toBeUndefined();
    const raw = Buffer.concat(datas);
    await expect(verifier.verify({ ...frame, codec: Codec.None, payload: raw })).resolves.toBeUndefined();
  });

  it("refuses a chunk whose bytes do not match its id, naming it", async () => {
    const frame = frameOf(datas);
    const forged = blake3(Buffer.from("something else"));
    frame.chunks[1] = { id: forged, length: frame.chunks[1]!.length };
    await expect(verifier.verify(frame)).rejects.toMatchObject({
      exitCode: Exit.CORRUPT,
      message: expect.stringContaining(forged.toString("hex")),
    });
  });

  it("refuses a payload that does not decode to the chunks' length", async () => {
    const frame = frameOf(datas);
    const garbage = Buffer.from(frame.payload);
    garbage.fill(7, 10);
    await expect(verifier.verify({ ...frame, payload: garbage })).rejects.toMatchObject({
      exitCode: Exit.CORRUPT,
    });
    const short = { ...frame, codec: Codec.None, payload: Buffer.concat(datas).subarray(1) };
    await expect(verifier.verify(short)).rejects.toMatchObject({ exitCode: Exit.CORRUPT });
    // The worker is still there for the next frame.
    await expect(verifier.verify(frameOf(datas))).resolves.toBeUndefined();
  });
});
