import { blake3 } from "@napi-rs/blake-hash";
import { corrupt } from "../../util/errors.js";
import { ID_BYTES, type ChunkId } from "../../store/types.js";

/** Where a chunk lives in a pack object: its frame, and its bytes within the decoded frame. */
export interface PackEntry {
  id: ChunkId;
  frameOffset: number;
  frameLength: number;
  innerOffset: number;
  rawLength: number;
}

/**
 * The index object of one pack: "NPI1" | count u32 | count × (id 32 B | frame offset u48 | 0 u16 |
 * frame length u32 | offset in the raw frame u32 | raw length u32) | BLAKE3 of all that (32 B).
 * Little-endian. The checksum catches a truncated or damaged object, from the bucket or the cache.
 */
const MAGIC = 0x3149504e; // "NPI1" little-endian
const ENTRY = ID_BYTES + 20;
const HEAD = 8;

export function encodePackIndex(entries: PackEntry[]): Buffer {
  const body = Buffer.alloc(HEAD + entries.length * ENTRY);
  body.writeUInt32LE(MAGIC, 0);
  body.writeUInt32LE(entries.length, 4);
  entries.forEach((e, i) => {
    const o = HEAD + i * ENTRY;
    e.id.copy(body, o);
    body.writeUIntLE(e.frameOffset, o + ID_BYTES, 6);
    body.writeUInt32LE(e.frameLength, o + ID_BYTES + 8);
    body.writeUInt32LE(e.innerOffset, o + ID_BYTES + 12);
    body.writeUInt32LE(e.rawLength, o + ID_BYTES + 16);
  });
  return Buffer.concat([body, blake3(body)]);
}

export function decodePackIndex(buf: Buffer, where: string): PackEntry[] {
  if (buf.length < HEAD + ID_BYTES || buf.readUInt32LE(0) !== MAGIC)
    throw corrupt(`${where}: not a pack index`);
  const count = buf.readUInt32LE(4);
  const bodyLength = HEAD + count * ENTRY;
  if (buf.length !== bodyLength + ID_BYTES) throw corrupt(`${where}: truncated pack index`);
  if (!blake3(buf.subarray(0, bodyLength)).equals(buf.subarray(bodyLength)))
    throw corrupt(`${where}: pack index checksum mismatch`);
  const out: PackEntry[] = [];
  for (let i = 0; i < count; i++) {
    const o = HEAD + i * ENTRY;
    out.push({
      id: Buffer.from(buf.subarray(o, o + ID_BYTES)),
      frameOffset: buf.readUIntLE(o + ID_BYTES, 6),
      frameLength: buf.readUInt32LE(o + ID_BYTES + 8),
      innerOffset: buf.readUInt32LE(o + ID_BYTES + 12),
      rawLength: buf.readUInt32LE(o + ID_BYTES + 16),
    });
  }
  return out;
}
