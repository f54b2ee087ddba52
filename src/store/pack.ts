import { closeSync, fdatasync, fdatasyncSync, openSync, readSync, writeSync } from "node:fs";
import { Exit, NitroError, corrupt } from "../util/errors.js";
import { FlushAhead } from "../util/flush-ahead.js";
import { ENTRY_BYTES, ID_BYTES, type Codec, type Frame, type FrameChunk } from "./types.js";

/**
 * Pack files hold frames back to back, each self-describing so that an index can be checked or
 * rebuilt from the packs alone:
 *   magic "NFR1" | codec u8 | 0 u8 | count u16 | rawLength u32 | payloadLength u32
 *   | count × (id 32 bytes | length u32) | payload
 * All integers little-endian. Packs are append-only and written by one process at a time.
 */
export const FRAME_MAGIC = 0x3152464e; // "NFR1" little-endian
export const FRAME_HEADER_BYTES = 16;
export const MAX_FRAME_CHUNKS = 0xffff;

export function frameHeader(frame: Frame): Buffer {
  const n = frame.chunks.length;
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES + n * ENTRY_BYTES);
  let raw = 0;
  for (let i = 0; i < n; i++) {
    const c = frame.chunks[i]!;
    const o = FRAME_HEADER_BYTES + i * ENTRY_BYTES;
    c.id.copy(h, o);
    h.writeUInt32LE(c.length, o + ID_BYTES);
    raw += c.length;
  }
  h.writeUInt32LE(FRAME_MAGIC, 0);
  h.writeUInt8(frame.codec, 4);
  h.writeUInt8(0, 5);
  h.writeUInt16LE(n, 6);
  h.writeUInt32LE(raw, 8);
  h.writeUInt32LE(frame.payload.length, 12);
  return h;
}

export interface ParsedFrameHeader {
  codec: Codec;
  chunks: FrameChunk[];
  rawLength: number;
  payloadLength: number;
  headerLength: number;
}

export function parseFrameHeader(buf: Buffer, where: string): ParsedFrameHeader {
  if (buf.length < FRAME_HEADER_BYTES || buf.readUInt32LE(0) !== FRAME_MAGIC)
    throw corrupt(`${where}: no frame header`);
  const count = buf.readUInt16LE(6);
  const headerLength = FRAME_HEADER_BYTES + count * ENTRY_BYTES;
  if (buf.length < headerLength) throw corrupt(`${where}: truncated frame header`);
  const chunks: FrameChunk[] = [];
  for (let i = 0; i < count; i++) {
    const o = FRAME_HEADER_BYTES + i * ENTRY_BYTES;
    chunks.push({ id: Buffer.from(buf.subarray(o, o + ID_BYTES)), length: buf.readUInt32LE(o + ID_BYTES) });
  }
  return {
    codec: buf.readUInt8(4) as Codec,
    chunks,
    rawLength: buf.readUInt32LE(8),
    payloadLength: buf.readUInt32LE(12),
    headerLength,
  };
}

/** Appended bytes that start a write-back ahead of the next commit. */
const FLUSH_AHEAD = 16 * 1024 * 1024;

export class PackWriter {
  private readonly fd: number;
  size = 0;
  /** The sync a commit waits for finds little left to write (it took 35-70 ms per image here). */
  private readonly flush: FlushAhead;

  constructor(
    readonly id: number,
    readonly path: string,
  ) {
    this.fd = openSync(path, "wx");
    this.flush = new FlushAhead(this.fd, FLUSH_AHEAD);
  }

  /** Appends a frame; returns its offset and total length in the pack. */
  append(header: Buffer, payload: Buffer): { offset: number; length: number } {
    const offset = this.size;
    writeAll(this.fd, header, offset);
    writeAll(this.fd, payload, offset + header.length);
    this.size += header.length + payload.length;
    this.flush.wrote(header.length + payload.length);
    return { offset, length: header.length + payload.length };
  }

  sync(): void {
    this.flush.throwError();
    fdatasyncSync(this.fd);
  }

  /** The same on libuv's thread pool: the caller's thread goes on meanwhile. */
  syncInBackground(): Promise<void> {
    this.flush.throwError();
    return new Promise((resolve, reject) => fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    closeSync(this.fd);
  }
}

function writeAll(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position + done);
}

/**
 * A pack that is not there (ENOENT): gc may have retired it after the reader looked up a chunk's
 * location, so the reader looks the location up again (see Store) before calling it damage.
 */
export class PackGoneError extends NitroError {
  constructor(readonly path: string) {
    super(Exit.CORRUPT, `pack ${path} is missing or unreadable`);
  }
}

/**
 * Keeps pack files open for reading; frames are read with one pread each. A pack open here stays
 * readable after gc unlinks it (Linux keeps the file until its last descriptor closes).
 */
export class PackReader {
  private readonly fds = new Map<number, number>();

  constructor(private readonly pathOf: (pack: number) => string) {}

  read(pack: number, offset: number, length: number, into?: Buffer): Buffer {
    let fd = this.fds.get(pack);
    if (fd === undefined) {
      try {
        fd = openSync(this.pathOf(pack), "r");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new PackGoneError(this.pathOf(pack));
        throw corrupt(`pack ${this.pathOf(pack)} is missing or unreadable`);
      }
      this.fds.set(pack, fd);
    }
    const buf = into ?? Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, offset + got);
      if (n === 0) throw corrupt(`pack ${this.pathOf(pack)}: frame at ${offset} is truncated`);
      got += n;
    }
    return buf;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
