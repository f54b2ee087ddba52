/**
 * Recycles the large buffers that carry frames (pack reads on the sending side, message bodies on
 * the receiving side, frames going to and from worker threads). On the virtual machines nitro is
 * measured on, the first touch of a fresh page costs ~16 µs: a fresh buffer per 2 MiB frame costs
 * more than sending it.
 */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];

  /** Buffers of `slot` bytes serve requests up to that size; `keep` of them wait for reuse. */
  constructor(
    private readonly slot = 4 * 1024 * 1024,
    private readonly keep = 16,
  ) {}

  /** Memory for at least `n` bytes: a recycled slot when `n` fits one, else fresh memory. */
  memory(n: number): ArrayBuffer {
    if (n > this.slot) return new ArrayBuffer(n);
    return this.free.pop() ?? new ArrayBuffer(this.slot);
  }

  /** Takes memory back (a slot given out by memory(), possibly after a trip to a worker). */
  give(ab: ArrayBuffer): void {
    if (ab.byteLength === this.slot && this.free.length < this.keep) this.free.push(ab);
  }

  /**
   * `n` bytes of recycled memory when they fit a slot. Call `release` once nothing refers to the
   * bytes any more (and never after that).
   */
  take(n: number): { buf: Buffer; release: () => void } {
    const ab = this.memory(n);
    let released = false;
    return {
      buf: Buffer.from(ab, 0, n),
      release: () => {
        if (released) return;
        released = true;
        this.give(ab);
      },
    };
  }
}
