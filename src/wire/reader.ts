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

/** Bodies from this size on are assembled in the pool's recycled buffers (frames, in practice). */
const POOLED_BODY = 64 * 1024;

/**
 * Cuts a byte stream into messages. Chunks are kept as received; a body lying inside one chunk is
 * a view of it (no copy), a body spanning chunks is copied once. A header is checked (known type,
 * length within that type's limit) before its body is awaited, so memory stays bounded by the
 * largest allowed message plus one chunk. With a pool, large bodies that need assembling go into
 * recycled buffers, which the consumer gives back through `Message.release`.
 *
 * With `transient` input, the source reuses a chunk's memory once next() has returned undefined:
 * every body is then copied out, and a body still arriving is assembled as its bytes come.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private first = 0;
  private offset = 0;
  private buffered = 0;
  private helloSeen = false;
  private pending: { type: number; req: number; length: number } | undefined;
  /** The pending body's bytes so far, when they had to be moved out of a transient chunk. */
  private body: { buf: Buffer; filled: number; release?: () => void } | undefined;

  constructor(
    private readonly accepts: ReadonlySet<number>,
    private readonly pool?: BufferPool,
    private readonly transient = false,
  ) {}

  get bufferedBytes(): number {
    return this.buffered + (this.body?.filled ?? 0);
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete message, or undefined until more bytes arrive. Throws on a bad header. */
  next(): Message | undefined {
    const m = this.complete();
    if (!m && this.transient) this.keepRest();
    return m;
  }

  private complete(): Message | undefined {
    if (!this.helloSeen) {
      if (this.buffered < HELLO_BYTES) return undefined;
      this.helloSeen = true;
      const copy = this.transient ? Buffer.allocUnsafe(HELLO_BYTES) : undefined;
      return { type: Msg.HELLO, req: 0, body: this.take(HELLO_BYTES, copy) };
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
    if (this.bufferedBytes < p.length) return undefined;
    this.pending = undefined;
    const head = this.chunks[this.first];
    if (this.body || this.transient || (head && head.length - this.offset < p.length)) {
      const body = this.body ?? { ...this.memory(p.length), filled: 0 };
      this.body = undefined;
      this.take(p.length - body.filled, body.buf, body.filled);
      return { type: p.type, req: p.req, body: body.buf, release: body.release };
    }
    return { type: p.type, req: p.req, body: this.take(p.length) };
  }

  /** Moves what is left of a transient chunk into memory of our own (see the class comment). */
  private keepRest(): void {
    if (this.buffered === 0) return;
    if (!this.pending) {
      // part of a header: a few bytes
      const rest = this.take(this.buffered, Buffer.allocUnsafe(this.buffered));
      this.push(rest);
      return;
    }
    this.body ??= { ...this.memory(this.pending.length), filled: 0 };
    const n = this.buffered;
    this.take(n, this.body.buf, this.body.filled);
    this.body.filled += n;
  }

  /** Memory for a body: recycled when large (frames) and a pool is there, else fresh. */
  private memory(n: number): { buf: Buffer; release?: () => void } {
    return this.pool && n >= POOLED_BODY ? this.pool.take(n) : { buf: Buffer.allocUnsafe(n) };
  }

  /** Takes `n` bytes: a view when they lie in one chunk and `into` is not given, else copied into `into` at `at`. */
  private take(n: number, into?: Buffer, at = 0): Buffer {
    if (n === 0) return into ?? Buffer.alloc(0);
    this.buffered -= n;
    const head = this.chunks[this.first]!;
    if (!into && head.length - this.offset >= n) {
      const out = head.subarray(this.offset, this.offset + n);
      this.advance(n);
      return out;
    }
    const out = into ?? Buffer.allocUnsafe(n);
    const end = at + n;
    let filled = at;
    while (filled < end) {
      const c = this.chunks[this.first]!;
      const k = Math.min(c.length - this.offset, end - filled);
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
