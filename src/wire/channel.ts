import type { Readable, Writable } from "node:stream";
import type { BufferPool } from "../util/buffer-pool.js";
import { ReusedBufferReads } from "../util/pipes.js";
import { MessageReader, type Message } from "./reader.js";

/**
 * The writing half of a session: whole messages written under cork (one syscall for header and
 * payload), write errors swallowed into `closed` (a peer gone away is not a crash), and `drain()`
 * for backpressure. It lets up to `highWater` bytes queue (the stream's own 16 KiB mark would stall
 * after every frame) and resumes writers at half of it, before the queue runs dry.
 */
export class Outbox {
  private dead = false;
  /** While held, what is sent stays in the stream's buffer, to leave in one write (see hold). */
  private held = false;
  private drainWaiters: (() => void)[] = [];
  private readonly flushed = () => {
    if (this.drainWaiters.length > 0 && this.out.writableLength <= this.highWater / 2) this.releaseDrain();
  };

  constructor(
    private readonly out: Writable,
    private readonly highWater = 4 * 1024 * 1024,
    onClose?: () => void,
  ) {
    const die = () => {
      if (this.dead) return;
      this.dead = true;
      this.releaseDrain();
      onClose?.();
    };
    out.on("error", die);
    out.on("close", die);
    out.on("drain", () => this.releaseDrain());
  }

  get closed(): boolean {
    return this.dead || this.out.writableEnded || this.out.destroyed;
  }

  /**
   * Writes one message; false when the caller should await drain() before writing much more.
   * `written` runs once the stream is done with the pieces (or will never use them).
   */
  send(pieces: Buffer[], written?: () => void): boolean {
    if (this.closed) {
      written?.();
      return false;
    }
    if (!this.held) this.out.cork();
    for (let i = 0; i < pieces.length - 1; i++) this.out.write(pieces[i]);
    this.out.write(
      pieces[pieces.length - 1],
      written
        ? () => {
            written();
            this.flushed();
          }
        : this.flushed,
    );
    if (!this.held) process.nextTick(() => this.out.uncork());
    return !this.congested;
  }

  /**
   * Keeps what is sent from now on until release(), so that it leaves in one write. Over SSH
   * this matters for a session's first messages: sshd sets TCP_NODELAY only for a command on a
   * terminal, so a second small write made before the first is acknowledged waits for that
   * acknowledgement, which the peer delays by up to 40 ms (measured at 30 ms RTT: the answer
   * to a question already waiting came 66 ms after the greeting written 4 ms before it).
   */
  hold(): void {
    if (this.held) return;
    this.held = true;
    this.out.cork();
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.out.uncork();
  }

  get congested(): boolean {
    return !this.closed && this.out.writableLength > this.highWater;
  }

  /** Resolves once the output has room again, or is closed (writes are then dropped). */
  drain(): Promise<void> {
    if (!this.congested) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  end(): void {
    if (!this.closed) this.out.end();
  }

  private releaseDrain(): void {
    const ws = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of ws) w();
  }
}

/** Messages read from `input`, the peer's HELLO first. Ends at end of input; throws on a bad header. */
export async function* readMessages(
  input: Readable | ReusedBufferReads,
  accepts: ReadonlySet<number>,
  pool?: BufferPool,
): AsyncGenerator<Message> {
  const transient = input instanceof ReusedBufferReads;
  const reader = new MessageReader(accepts, pool, transient);
  // Leaving the loop must not destroy `input`: it may be the same Duplex we still answer on.
  for await (const chunk of transient ? input : input.iterator({ destroyOnReturn: false })) {
    reader.push(chunk as Buffer);
    for (let m = reader.next(); m; m = reader.next()) yield m;
  }
}
