import { ID_BYTES, type ChunkId } from "../store/types.js";
import { frameShare, type FrameShares, type PutResult, type StoredSizes } from "../store/types.js";
import type { ExitCode } from "../util/errors.js";
import { exitCodeFrom, protocolError } from "./errors.js";
import { HEADER_BYTES, HELLO_BYTES, Limits, MAGIC, PROTOCOL_VERSION } from "./protocol.js";

/** A whole message as buffers to write in order; the first holds the header. */
export function message(type: number, req: number, body: Buffer = EMPTY): Buffer[] {
  const head = Buffer.allocUnsafe(HEADER_BYTES);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt8(type, 4);
  head.writeUInt32LE(req, 5);
  return body.length === 0 ? [head] : [head, body];
}

const EMPTY = Buffer.alloc(0);

export interface Hello {
  version: number;
  flags: number;
}

export function encodeHello(flags = 0, version = PROTOCOL_VERSION): Buffer {
  const b = Buffer.allocUnsafe(HELLO_BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt16LE(version, MAGIC.length);
  b.writeUInt16LE(flags, MAGIC.length + 2);
  return b;
}

/** Checks the magic; the version is the caller's to compare (it wants both in its message). */
export function decodeHello(b: Buffer, peer: "client" | "server"): Hello {
  if (!b.subarray(0, MAGIC.length).equals(MAGIC)) {
    const shown = b.toString("latin1").replace(/[^\x20-\x7e]/g, ".");
    throw protocolError(
      `the ${peer} does not speak the nitro protocol (it sent '${shown}...'` +
        (peer === "server"
          ? "; is something printing on the remote's stdout, a banner or a shell profile?)"
          : ")"),
    );
  }
  return { version: b.readUInt16LE(MAGIC.length), flags: b.readUInt16LE(MAGIC.length + 2) };
}

export function encodeIds(ids: ChunkId[], prefix = 0): Buffer {
  const b = Buffer.allocUnsafe(prefix + ids.length * ID_BYTES);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id.length !== ID_BYTES) throw protocolError(`chunk id of ${id.length} bytes`);
    // set, not copy: 3x quicker before the JIT has run (a pull's holdings question is an early call)
    b.set(id, prefix + i * ID_BYTES);
  }
  return b;
}

/** Ids as views of `body` (from byte `from`). */
export function decodeIds(body: Buffer, from = 0): ChunkId[] {
  const n = (body.length - from) / ID_BYTES;
  if (!Number.isInteger(n)) throw protocolError("id list is not a whole number of ids");
  if (n > Limits.IDS) throw protocolError(`${n} ids in one message (limit ${Limits.IDS})`);
  const ids = new Array<ChunkId>(n);
  for (let i = 0; i < n; i++) ids[i] = body.subarray(from + i * ID_BYTES, from + (i + 1) * ID_BYTES);
  return ids;
}

/** GET_FRAMES: credit u32 (bytes the server may send before waiting for CREDIT) | ids. */
export function encodeGet(credit: number, ids: ChunkId[]): Buffer {
  const b = encodeIds(ids, 4);
  b.writeUInt32LE(credit, 0);
  return b;
}

export function decodeGet(body: Buffer): { credit: number; ids: ChunkId[] } {
  if (body.length < 4) throw protocolError("truncated GET_FRAMES");
  const credit = body.readUInt32LE(0);
  if (credit === 0) throw protocolError("GET_FRAMES with no credit");
  return { credit, ids: decodeIds(body, 4) };
}

/** HAS_REPLY: bit i (byte i >> 3, bit i & 7) tells whether the site holds id i. */
export function encodeBitmap(bits: boolean[]): Buffer {
  const b = Buffer.alloc(Math.ceil(bits.length / 8));
  for (let i = 0; i < bits.length; i++) if (bits[i]) b[i >> 3]! |= 1 << (i & 7);
  return b;
}

export function decodeBitmap(body: Buffer, n: number): boolean[] {
  if (body.length !== Math.ceil(n / 8)) throw protocolError(`HAS reply of ${body.length} bytes for ${n} ids`);
  const out = new Array<boolean>(n);
  for (let i = 0; i < n; i++) out[i] = (body[i >> 3]! & (1 << (i & 7))) !== 0;
  return out;
}

/**
 * HAS_SIZES_REPLY: u32 F, then F × (u32 stored payload bytes, u32 raw bytes) of the frames by
 * number, then a varint per id asked: 0 when the site lacks it, else 1 + zigzag(its frame's
 * number - the previous held id's). The asker knows each chunk's raw length and works its size
 * out (frameShare): about one byte an id instead of eight, so that the answer about a
 * 5,000-chunk image fits in the first flight of a fresh TCP connection.
 */
export function encodeSizes({ sizes, frames, frameStored, frameRaw }: FrameShares): Buffer {
  const f = frameStored.length;
  const b = Buffer.allocUnsafe(4 + 8 * f + 5 * sizes.length);
  b.writeUInt32LE(f, 0);
  for (let k = 0; k < f; k++) {
    b.writeUInt32LE(frameStored[k]!, 4 + 8 * k);
    b.writeUInt32LE(frameRaw[k]!, 8 + 8 * k);
  }
  let o = 4 + 8 * f;
  let prev = 0;
  for (let i = 0; i < sizes.length; i++) {
    if (sizes[i] === 0) {
      b[o++] = 0;
      continue;
    }
    const d = frames[i]! - prev;
    prev = frames[i]!;
    for (let v = 1 + (d >= 0 ? 2 * d : -2 * d - 1); ; v = Math.floor(v / 128)) {
      if (v < 128) {
        b[o++] = v;
        break;
      }
      b[o++] = (v & 127) | 128;
    }
  }
  return b.subarray(0, o);
}

/** The sizes of a HAS_SIZES_REPLY about chunks of these raw lengths (in the order asked). */
export function decodeSizes(body: Buffer, lengths: ArrayLike<number>): StoredSizes {
  const n = lengths.length;
  const bad = (why: string) => protocolError(`HAS_SIZES reply for ${n} ids: ${why}`);
  if (body.length < 4) throw bad("truncated");
  const f = body.readUInt32LE(0);
  if (f > n || 4 + 8 * f > body.length) throw bad(`${f} frames in ${body.length} bytes`);
  const sizes = new Uint32Array(n);
  const frames = new Uint32Array(n);
  let o = 4 + 8 * f;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (let shift = 1; ; shift *= 128) {
      if (o >= body.length) throw bad("truncated");
      if (shift > 128 ** 4) throw bad("varint too long");
      const byte = body[o++]!;
      v += (byte & 127) * shift;
      if (byte < 128) break;
    }
    if (v === 0) continue;
    const z = v - 1;
    const frame = prev + (z % 2 === 0 ? z / 2 : -(z + 1) / 2);
    if (frame < 0 || frame >= f) throw bad(`frame ${frame} of ${f}`);
    prev = frame;
    frames[i] = frame;
    sizes[i] = frameShare(lengths[i]!, body.readUInt32LE(4 + 8 * frame), body.readUInt32LE(8 + 8 * frame));
  }
  if (o !== body.length) throw bad(`${body.length - o} bytes left over`);
  return { sizes, frames };
}

export function encodeU32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(n, 0);
  return b;
}

export function decodeU32(body: Buffer, what: string): number {
  if (body.length !== 4) throw protocolError(`malformed ${what}`);
  return body.readUInt32LE(0);
}

function writeU64(b: Buffer, n: number, at: number): void {
  b.writeUInt32LE(n % 2 ** 32, at);
  b.writeUInt32LE(Math.floor(n / 2 ** 32), at + 4);
}

const readU64 = (b: Buffer, at: number): number => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 2 ** 32;

export function encodeU64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  writeU64(b, n, 0);
  return b;
}

export function decodeU64(body: Buffer, what: string): number {
  if (body.length !== 8) throw protocolError(`malformed ${what}`);
  return readU64(body, 0);
}

/** PUT_ACK: frames taken by the store so far (frees the sender's window) and what is durable. */
export interface PutAck {
  consumedFrames: number;
  durableChunks: number;
  durableRawBytes: number;
}

export function encodePutAck(a: PutAck): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeUInt32LE(a.consumedFrames, 0);
  b.writeUInt32LE(a.durableChunks, 4);
  writeU64(b, a.durableRawBytes, 8);
  return b;
}

export function decodePutAck(body: Buffer): PutAck {
  if (body.length !== 16) throw protocolError("malformed PUT_ACK");
  return {
    consumedFrames: body.readUInt32LE(0),
    durableChunks: body.readUInt32LE(4),
    durableRawBytes: readU64(body, 8),
  };
}

/** PUT_DONE: chunks u32 | skipped u32 | rawBytes u64 | wireBytes u64. */
export function encodePutDone(r: PutResult): Buffer {
  const b = Buffer.allocUnsafe(24);
  b.writeUInt32LE(r.chunks, 0);
  b.writeUInt32LE(r.skipped, 4);
  writeU64(b, r.rawBytes, 8);
  writeU64(b, r.wireBytes, 16);
  return b;
}

export function decodePutDone(body: Buffer): PutResult {
  if (body.length !== 24) throw protocolError("malformed PUT_DONE");
  return {
    chunks: body.readUInt32LE(0),
    skipped: body.readUInt32LE(4),
    rawBytes: readU64(body, 8),
    wireBytes: readU64(body, 16),
  };
}

/** ERROR: code u8 (a nitro exit code) | UTF-8 message. */
export function encodeError(code: ExitCode, msg: string): Buffer {
  let text = Buffer.from(msg, "utf8");
  if (text.length > Limits.ERROR_BYTES) text = text.subarray(0, Limits.ERROR_BYTES);
  const b = Buffer.allocUnsafe(1 + text.length);
  b.writeUInt8(code, 0);
  text.copy(b, 1);
  return b;
}

export function decodeError(body: Buffer): { code: ExitCode; message: string } {
  if (body.length < 1) throw protocolError("malformed ERROR");
  return { code: exitCodeFrom(body.readUInt8(0)), message: body.toString("utf8", 1) };
}
