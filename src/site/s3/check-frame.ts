import { blake3 } from "@napi-rs/blake-hash";
import type { FrameCodec } from "../../store/codec.js";
import type { Frame } from "../../store/types.js";
import { sharedVerifier } from "../../store/verify-pool.js";
import { corrupt } from "../../util/errors.js";

/**
 * Resolves when every chunk of a received frame hashes to its id (on the verifier's thread, or
 * here when NITRO_VERIFY_THREADS=0); rejects with CORRUPT otherwise.
 */
export async function checkFrame(frame: Frame, codec: FrameCodec): Promise<void> {
  if (sharedVerifier) return sharedVerifier.verify(frame);
  const raw = frame.chunks.reduce((s, c) => s + c.length, 0);
  const bytes = codec.decodeTransient(frame.codec, frame.payload, raw);
  let o = 0;
  for (const c of frame.chunks) {
    if (!blake3(bytes.subarray(o, o + c.length)).equals(c.id))
      throw corrupt(`chunk ${c.id.toString("hex")}: bytes do not match its id`);
    o += c.length;
  }
}
