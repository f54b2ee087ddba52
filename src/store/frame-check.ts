import { createRequire } from "node:module";
import { corrupt } from "../util/errors.js";
import type { FrameCodec } from "./codec.js";
import type { ParsedFrameHeader } from "./pack.js";
import type { ChunkId } from "./types.js";

const require = createRequire(import.meta.url);
const { blake3 } = require("@napi-rs/blake-hash") as typeof import("@napi-rs/blake-hash");

/**
 * For frames copied from a pack into a new one (gc, an S3 pack rewritten): what the copy keeps is
 * checked first, so that damage is not carried on. Each failure is CORRUPT, naming the frame
 * (`where`) and what to run (`hint`).
 */
export interface CopyCheck {
  codec: FrameCodec;
  where: string;
  hint: string;
}

/** The frame's payload decoded; into the codec's reused buffer when it is only checked (`transient`). */
export function decodeCopied(
  c: CopyCheck,
  h: ParsedFrameHeader,
  payload: Buffer,
  transient: boolean,
): Buffer {
  try {
    return transient
      ? c.codec.decodeTransient(h.codec, payload, h.rawLength)
      : c.codec.decode(h.codec, payload, h.rawLength);
  } catch (err) {
    throw corrupt(`${c.where}: ${(err as Error).message} (${c.hint})`);
  }
}

/** The chunk's bytes in the decoded frame, which must be whole and hash to its id. */
export function checkedChunk(c: CopyCheck, raw: Buffer, id: ChunkId, offset: number, length: number): Buffer {
  const data = raw.subarray(offset, offset + length);
  if (data.length !== length || !blake3(data).equals(id))
    throw corrupt(`chunk ${id.toString("hex")} in ${c.where} is damaged (${c.hint})`);
  return data;
}
