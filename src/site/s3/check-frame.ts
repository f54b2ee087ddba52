import { blake3 } from "@napi-rs/blake-hash";
import type { FrameCodec } from "../../store/codec.js";
import type { Frame } from "../../store/types.js";
import { corrupt } from "../../util/errors.js";

/**
 * Checks on this thread that every chunk of a received frame hashes to its id: for frames the
 * verifier worker has not checked (NITRO_VERIFY_THREADS=0). Throws CORRUPT otherwise.
 */
export function checkFrameHere(frame: Frame, codec: FrameCodec): void {
  const raw = frame.chunks.reduce((s, c) => s + c.length, 0);
  const bytes = codec.decodeTransient(frame.codec, frame.payload, raw);
  let o = 0;
  for (const c of frame.chunks) {
    if (!blake3(bytes.subarray(o, o + c.length)).equals(c.id))
      throw corrupt(`chunk ${c.id.toString("hex")}: bytes do not match its id`);
    o += c.length;
  }
}
