import { Wakeup } from "../util/wakeup.js";

/**
 * A FIFO that one producer fills and one consumer drains as an async iterable. It counts the bytes
 * it holds so the producer can wait for room (backpressure), and reports each item taken.
 */
export class ByteQueue<T> implements AsyncIterable<T> {
  private items: { value: T; size: number }[] = [];
  private head = 0;
  private held = 0;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private readonly consumer = new Wakeup();
  private roomWaiters: { limit: number; resolve: () => void }[] = [];

  constructor(private readonly onTake?: (value: T, size: number) => void) {}

  get bytes(): number {
    return this.held;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  push(value: T, size: number): void {
    if (this.ended) return;
    this.items.push({ value, size });
    this.held += size;
    this.wake();
  }

  /** No more items: the consumer finishes once the queue is empty. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Drops what is queued and makes the consumer's next read throw `error`. */
  fail(error: unknown): void {
    this.failure ??= { error };
    this.clear();
    this.end();
  }

  /** Drops what is queued and ends the queue quietly. */
  abort(): void {
    this.clear();
    this.end();
  }

  /** Resolves once at most `limit` bytes are queued, or the queue has ended. */
  room(limit: number): Promise<void> {
    if (this.held <= limit || this.ended) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push({ limit, resolve }));
  }

  async next(): Promise<IteratorResult<T, undefined>> {
    for (;;) {
      if (this.failure) throw this.failure.error;
      if (this.head < this.items.length) {
        const item = this.items[this.head]!;
        this.items[this.head++] = undefined as unknown as { value: T; size: number };
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items = this.items.slice(this.head);
          this.head = 0;
        }
        this.held -= item.size;
        this.releaseRoom();
        this.onTake?.(item.value, item.size);
        return { value: item.value, done: false };
      }
      if (this.ended) return { value: undefined, done: true };
      await this.consumer.wait();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    return {
      next: () => this.next(),
      return: async () => {
        this.abort();
        return { value: undefined, done: true };
      },
    };
  }

  private clear(): void {
    this.items = [];
    this.head = 0;
    this.held = 0;
    this.releaseRoom();
  }

  private wake(): void {
    this.consumer.notify();
    if (this.ended) this.releaseRoom();
  }

  private releaseRoom(): void {
    if (this.roomWaiters.length === 0) return;
    const still: typeof this.roomWaiters = [];
    for (const w of this.roomWaiters) {
      if (this.held <= w.limit || this.ended) w.resolve();
      else still.push(w);
    }
    this.roomWaiters = still;
  }
}
