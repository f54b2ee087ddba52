import { createRequire } from "node:module";

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
