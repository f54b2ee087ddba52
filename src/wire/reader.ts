import type { BufferPool } from "../util/buffer-pool.js";
import { HEADER_BYTES, HELLO_BYTES, MAX_BODY, Msg, msgName } from "./protocol.js";
import { protocolError } from "./errors.js";

export interface Message {
  type: number;
  req: number;
  body: Buffer;
  /** Set when the body was assembled in a recycled buffer (see MessageReader's pool). */
  release?: () => void;
}

/**
 * Cuts a byte stream into messages. Chunks are kept as received; a body lying inside one chunk is
 * a view of it (no copy), a body spanning chunks is copied once. A header is checked (known type,
 * length within that type's limit) before its body is awaited, so memory stays bounded by the
 * largest allowed message plus one chunk. With a pool, bodies that need assembling go into
 * recycled buffers, which the consumer gives back through `Message.release`.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private first = 0;
  private offset = 0;
  private buffered = 0;
  private helloSeen = false;
  private pending: { type: number; req: number; length: number } | undefined;

  constructor(
    private readonly accepts: ReadonlySet<number>,
    private readonly pool?: BufferPool,
  ) {}

  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete message, or undefined until more bytes arrive. Throws on a bad header. */
  next(): Message | undefined {
    if (!this.helloSeen) {
      if (this.buffered < HELLO_BYTES) return undefined;
      this.helloSeen = true;
      return { type: Msg.HELLO, req: 0, body: this.take(HELLO_BYTES) };
    }
    if (!this.pending) {
      if (this.buffered < HEADER_BYTES) return undefined;
      const h = this.take(HEADER_BYTES);
      const length = h.readUInt32LE(0);
      const type = h.readUInt8(4);
      const req = h.readUInt32LE(5);
      const max = MAX_BODY[type];
      if (!this.accepts.has(type) || max === undefined)
        throw protocolError(`unexpected message type ${msgName(type)}`);
      if (length > max)
        throw protocolError(`${msgName(type)} of ${length} bytes exceeds the limit of ${max}`);
      this.pending = { type, req, length };
    }
    const p = this.pending;
    if (this.buffered < p.length) return undefined;
    this.pending = undefined;
    const head = this.chunks[this.first];
    if (this.pool && head && head.length - this.offset < p.length) {
      const { buf, release } = this.pool.take(p.length);
      return { type: p.type, req: p.req, body: this.take(p.length, buf), release };
    }
    return { type: p.type, req: p.req, body: this.take(p.length) };
  }

  private take(n: number, into?: Buffer): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.buffered -= n;
    const head = this.chunks[this.first]!;
    if (!into && head.length - this.offset >= n) {
      const out = head.subarray(this.offset, this.offset + n);
      this.advance(n);
      return out;
    }
    const out = into ?? Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[this.first]!;
      const k = Math.min(c.length - this.offset, n - filled);
      c.copy(out, filled, this.offset, this.offset + k);
      filled += k;
      this.advance(k);
    }
    return out;
  }

  private advance(n: number): void {
    this.offset += n;
    if (this.offset < this.chunks[this.first]!.length) return;
    this.chunks[this.first] = undefined as unknown as Buffer;
    this.first++;
    this.offset = 0;
    if (this.first > 64 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}
