import { Codec, ENTRY_BYTES, ID_BYTES, type ChunkId, type Frame, type FrameChunk } from "../store/types.js";
import { Exit, NitroError } from "../util/errors.js";
import { protocolError } from "./errors.js";
import { HEADER_BYTES, Limits } from "./protocol.js";

/** Bytes before the chunk table in a FRAME / PUT_FRAME body: codec u8 | count u16. */
const FRAME_HEAD = 3;

export function frameBodyBytes(frame: Frame): number {
  return FRAME_HEAD + frame.chunks.length * ENTRY_BYTES + frame.payload.length;
}

/** Refuses to send a frame the peer would refuse: the caller's bug or a store beyond wire limits. */
export function checkFrameLimits(frame: Frame): void {
  const problem = frameProblem(frame.codec, frame.chunks, frame.payload.length);
  if (problem) throw new NitroError(Exit.INTERNAL, `frame cannot be sent: ${problem}`);
}

function frameProblem(codec: number, chunks: FrameChunk[], payloadLength: number): string | undefined {
  if (codec !== Codec.None && codec !== Codec.Zstd) return `unknown codec ${codec}`;
  if (chunks.length === 0 || chunks.length > Limits.FRAME_CHUNKS)
    return `${chunks.length} chunks (limit ${Limits.FRAME_CHUNKS})`;
  if (payloadLength > Limits.FRAME_PAYLOAD)
    return `payload of ${payloadLength} bytes (limit ${Limits.FRAME_PAYLOAD})`;
  let raw = 0;
  for (const c of chunks) {
    if (c.id.length !== ID_BYTES) return `chunk id of ${c.id.length} bytes`;
    if (!Number.isInteger(c.length) || c.length < 1 || c.length > Limits.CHUNK_BYTES)
      return `chunk of ${c.length} bytes (limit ${Limits.CHUNK_BYTES})`;
    raw += c.length;
  }
  if (raw > Limits.FRAME_RAW) return `${raw} uncompressed bytes (limit ${Limits.FRAME_RAW})`;
  if (codec === Codec.None && raw !== payloadLength)
    return `raw payload of ${payloadLength} bytes for ${raw}`;
  return undefined;
}

/**
 * One message carrying a frame: message header, codec, count and chunk table in one buffer, then
 * the payload as is (never copied).
 */
export function frameMessage(type: number, req: number, frame: Frame): Buffer[] {
  const n = frame.chunks.length;
  const head = Buffer.allocUnsafe(HEADER_BYTES + FRAME_HEAD + n * ENTRY_BYTES);
  head.writeUInt32LE(frameBodyBytes(frame), 0);
  head.writeUInt8(type, 4);
  head.writeUInt32LE(req, 5);
  head.writeUInt8(frame.codec, HEADER_BYTES);
  head.writeUInt16LE(n, HEADER_BYTES + 1);
  let o = HEADER_BYTES + FRAME_HEAD;
  for (const c of frame.chunks) {
    c.id.copy(head, o);
    head.writeUInt32LE(c.length, o + ID_BYTES);
    o += ENTRY_BYTES;
  }
  return [head, frame.payload];
}

/** Parses and checks a frame body; ids and payload are views of `body`. */
export function decodeFrame(body: Buffer): Frame {
  if (body.length < FRAME_HEAD) throw protocolError("truncated frame");
  const codec = body.readUInt8(0);
  const n = body.readUInt16LE(1);
  const tableEnd = FRAME_HEAD + n * ENTRY_BYTES;
  if (tableEnd > body.length) throw protocolError("frame chunk table overruns its message");
  const chunks: FrameChunk[] = new Array<FrameChunk>(n);
  for (let i = 0, o = FRAME_HEAD; i < n; i++, o += ENTRY_BYTES) {
    const id: ChunkId = body.subarray(o, o + ID_BYTES);
    chunks[i] = { id, length: body.readUInt32LE(o + ID_BYTES) };
  }
  const payload = body.subarray(tableEnd);
  const problem = frameProblem(codec, chunks, payload.length);
  if (problem) throw protocolError(`bad frame: ${problem}`);
  return { codec: codec as Codec, chunks, payload };
}
