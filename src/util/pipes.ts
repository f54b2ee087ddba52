import { fstatSync } from "node:fs";
import { createRequire } from "node:module";
import { Socket, type OnReadOpts, type SocketConstructorOpts } from "node:net";
import { Wakeup } from "./wakeup.js";

const require = createRequire(import.meta.url);
const F_SETPIPE_SZ = 1031;

/**
 * Grows the kernel buffer of a pipe (Linux, up to /proc/sys/fs/pipe-max-size, 1 MiB by default).
 * Behind `nitro serve`, sshd writes into a 64 KiB pipe and stops each time the store is busy on a
 * frame for a few milliseconds; a larger pipe lets it run ahead. Best effort: anything that is not
 * a pipe, or a kernel that refuses, keeps its buffer.
 */
export function growPipe(fd: number, bytes = 1024 * 1024): void {
  if (process.platform !== "linux") return;
  try {
    const { fcntlSync } = require("fs-ext") as { fcntlSync(fd: number, cmd: number, arg: number): number };
    fcntlSync(fd, F_SETPIPE_SZ, bytes);
  } catch {
    // not a pipe (a socket, a file in tests) or above the system limit: keep the default
  }
}

/**
 * Reads a pipe or socket into one reused buffer, a chunk at a time: each chunk is valid until the
 * next one is asked for. A stream reads into a fresh 64 KiB buffer each time: behind `nitro
 * serve`, ~25 MB of new pages per pushed image, and a first touch of a page is a page fault.
 */
export class ReusedBufferReads implements AsyncIterable<Buffer> {
  private readonly socket: Socket;
  private chunk: Buffer | undefined;
  private ended = false;
  private error: Error | undefined;
  private readonly changed = new Wakeup();

  /** Undefined when `fd` is not a pipe or a socket (a file, a terminal: read those as a stream). */
  static open(fd: number, size = 256 * 1024): ReusedBufferReads | undefined {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket() ? new ReusedBufferReads(fd, size) : undefined;
  }

  private constructor(fd: number, size: number) {
    // The constructor takes `onread` as connect() does (Node >= 12.2); the typings only list it there.
    const opts: SocketConstructorOpts & { onread: OnReadOpts } = {
      fd,
      readable: true,
      writable: false,
      // Input ending must not shut the socket down: stdout may be the same socket (inetd, socat).
      allowHalfOpen: true,
      onread: {
        buffer: Buffer.allocUnsafe(size),
        callback: (n, buf) => {
          this.chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
          this.changed.notify();
          return false; // pause until the chunk has been consumed
        },
      },
    };
    this.socket = new Socket(opts);
    this.socket.on("end", () => {
      this.ended = true;
      this.changed.notify();
    });
    this.socket.on("error", (err) => {
      this.error = err;
      this.changed.notify();
    });
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        while (!this.chunk && !this.ended && !this.error) await this.changed.wait();
        const chunk = this.chunk;
        if (!chunk) break;
        this.chunk = undefined;
        yield chunk;
        this.socket.resume();
      }
      if (this.error) throw this.error;
    } finally {
      this.socket.pause();
    }
  }
}
