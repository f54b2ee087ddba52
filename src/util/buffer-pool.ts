/**
 * Recycles the large buffers that carry frames (pack reads on the sending side, message bodies on
 * the receiving side). On the virtual machines nitro is measured on, the first touch of a fresh
 * page costs ~8 µs: a fresh buffer per 2 MiB frame costs more than sending it.
 */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];

  /** Buffers of `slot` bytes serve requests up to that size; `keep` of them wait for reuse. */
  constructor(
    private readonly slot = 4 * 1024 * 1024,
    private readonly keep = 16,
  ) {}

  /**
   * `n` bytes of a recycled buffer when they fit a slot, of a fresh one otherwise. Call
   * `release` once nothing refers to the bytes any more (and never after that).
   */
  take(n: number): { buf: Buffer; release: () => void } {
    if (n > this.slot) return { buf: Buffer.allocUnsafe(n), release: () => {} };
    const ab = this.free.pop() ?? new ArrayBuffer(this.slot);
    let released = false;
    return {
      buf: Buffer.from(ab, 0, n),
      release: () => {
        if (released) return;
        released = true;
        if (this.free.length < this.keep) this.free.push(ab);
      },
    };
  }
}
