import { blake3 } from "@napi-rs/blake-hash";
import { describe, expect, it } from "vitest";
import { Codec, type Frame } from "../../src/store/types.js";
import { ProtocolError } from "../../src/wire/errors.js";
import { checkFrameLimits, decodeFrame, frameBodyBytes, frameMessage } from "../../src/wire/frames.js";
import { HEADER_BYTES, Limits, Msg } from "../../src/wire/protocol.js";

const id = blake3(Buffer.from("x"));

/** The body of a FRAME message for `frame`, built by the real encoder. */
function body(frame: Frame): Buffer {
  return Buffer.concat(frameMessage(Msg.FRAME, 1, frame)).subarray(HEADER_BYTES);
}

describe("frame bodies", () => {
  it("encodes header and table in one buffer and sends the payload as is", () => {
    const payload = Buffer.alloc(1000, 1);
    const frame = { codec: Codec.Zstd, chunks: [{ id, length: 5000 }], payload };
    const pieces = frameMessage(Msg.PUT_FRAME, 7, frame);
    expect(pieces).toHaveLength(2);
    expect(pieces[1]).toBe(payload);
    expect(pieces[0]!.readUInt32LE(0)).toBe(frameBodyBytes(frame));
    expect(frameBodyBytes(frame)).toBe(3 + 36 + 1000);
  });

  it("refuses frames outside the limits, whoever builds them", () => {
    const bad: [string, Frame][] = [
      ["unknown codec", { codec: 9 as Codec, chunks: [{ id, length: 4 }], payload: Buffer.alloc(4) }],
      ["no chunks", { codec: Codec.None, chunks: [], payload: Buffer.alloc(0) }],
      ["empty chunk", { codec: Codec.Zstd, chunks: [{ id, length: 0 }], payload: Buffer.alloc(4) }],
      [
        "huge chunk",
        { codec: Codec.Zstd, chunks: [{ id, length: Limits.CHUNK_BYTES + 1 }], payload: Buffer.alloc(4) },
      ],
      [
        "decompression bomb",
        {
          codec: Codec.Zstd,
          chunks: Array.from({ length: 5 }, () => ({ id, length: Limits.CHUNK_BYTES })),
          payload: Buffer.alloc(100),
        },
      ],
      ["raw size mismatch", { codec: Codec.None, chunks: [{ id, length: 5 }], payload: Buffer.alloc(4) }],
      [
        "too many chunks",
        {
          codec: Codec.Zstd,
          chunks: Array.from({ length: Limits.FRAME_CHUNKS + 1 }, () => ({ id, length: 1 })),
          payload: Buffer.alloc(10),
        },
      ],
    ];
    for (const [what, frame] of bad) {
      expect(() => decodeFrame(body(frame)), what).toThrow(ProtocolError);
      expect(() => checkFrameLimits(frame), what).toThrow(/cannot be sent/);
    }
  });

  it("refuses a chunk table that overruns its message", () => {
    const b = body({ codec: Codec.None, chunks: [{ id, length: 4 }], payload: Buffer.alloc(4) });
    b.writeUInt16LE(2, 1);
    expect(() => decodeFrame(b)).toThrow(/overruns/);
    expect(() => decodeFrame(b.subarray(0, 2))).toThrow(/truncated/);
  });
});
