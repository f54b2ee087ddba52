import { createRequire } from "node:module";
import { corrupt } from "../util/errors.js";
import { Codec } from "./types.js";

const require = createRequire(import.meta.url);
const { Compressor, Decompressor } = require("zstd-napi") as typeof import("zstd-napi");
const { DCtx } = require("zstd-napi/binding") as typeof import("zstd-napi/binding.js");

export class FrameCodec {
  private readonly compressor = new Compressor();
  private readonly decompressor = new Decompressor();
  private readonly dctx = new DCtx();
  private scratch = Buffer.alloc(0);

  constructor(
    readonly codec: Codec,
    level: number,
  ) {
    this.compressor.setParameters({ compressionLevel: level, contentSizeFlag: true, checksumFlag: false });
  }

  /**
   * Encodes raw bytes; keeps them raw when compression does not shrink them, in which case the
   * payload is `raw` itself (callers write it out before reusing the buffer).
   */
  encode(raw: Buffer): { codec: Codec; payload: Buffer } {
    if (this.codec === Codec.Zstd) {
      const z = this.compressor.compress(raw);
      if (z.length < raw.length) return { codec: Codec.Zstd, payload: z };
    }
    return { codec: Codec.None, payload: raw };
  }

  decode(codec: Codec, payload: Buffer, rawLength: number): Buffer {
    let raw: Buffer;
    if (codec === Codec.None) raw = payload;
    else if (codec === Codec.Zstd) {
      try {
        raw = this.decompressor.decompress(payload);
      } catch (err) {
        throw corrupt(`frame does not decompress: ${(err as Error).message}`);
      }
    } else throw corrupt(`unknown frame codec ${codec as number}`);
    if (raw.length !== rawLength) throw corrupt(`frame holds ${raw.length} bytes, expected ${rawLength}`);
    return raw;
  }

  /**
   * Like decode, into a buffer reused by the next call: for bytes that are only checked (and
   * copied if kept), as a site receiving frames does. Saves an allocation per frame.
   */
  decodeTransient(codec: Codec, payload: Buffer, rawLength: number): Buffer {
    if (codec !== Codec.Zstd) return this.decode(codec, payload, rawLength);
    if (this.scratch.length < rawLength)
      this.scratch = Buffer.allocUnsafe(Math.max(rawLength, 4 * 1024 * 1024));
    const out = this.scratch.subarray(0, rawLength);
    let n: number;
    try {
      n = this.dctx.decompress(out, payload);
    } catch (err) {
      throw corrupt(`frame does not decompress: ${(err as Error).message}`);
    }
    if (n !== rawLength) throw corrupt(`frame holds ${n} bytes, expected ${rawLength}`);
    return out;
  }
}
