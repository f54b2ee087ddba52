import { describe, expect, it } from "vitest";
import { decodeSizes, encodeSizes } from "../../src/wire/messages.js";
import { ACCEPTS, MAX_BODY, Limits, Msg } from "../../src/wire/protocol.js";

describe("HAS_SIZES", () => {
  it("a reply carries a u32 size (0 for an absent chunk) and a u32 frame per id, in order", () => {
    const sizes = Uint32Array.from([0, 1, 65_572, 0xffff_ffff, 0]);
    const frames = Uint32Array.from([0, 7, 7, 0xffff_ffff, 2]);
    expect(decodeSizes(encodeSizes({ sizes, frames }), sizes.length)).toEqual({ sizes, frames });
  });

  it("a reply of the wrong length for the ids asked is a protocol error", () => {
    const three = Uint32Array.from([1, 2, 3]);
    const body = encodeSizes({ sizes: three, frames: three });
    expect(() => decodeSizes(body, 4)).toThrow(/HAS_SIZES reply of 24 bytes for 4 ids/);
    expect(() => decodeSizes(body.subarray(0, 23), 3)).toThrow(/HAS_SIZES reply/);
  });

  it("is a request the server accepts and a reply the client accepts, bounded like HAS", () => {
    expect(ACCEPTS.server.has(Msg.HAS_SIZES)).toBe(true);
    expect(ACCEPTS.client.has(Msg.HAS_SIZES_REPLY)).toBe(true);
    expect(MAX_BODY[Msg.HAS_SIZES]).toBe(MAX_BODY[Msg.HAS]);
    expect(MAX_BODY[Msg.HAS_SIZES_REPLY]).toBe(Limits.IDS * 8);
  });
});
