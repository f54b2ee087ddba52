import { close, open, read } from "node:fs";
import { promisify } from "node:util";
import type { Writable } from "node:stream";
import { Exit, NitroError, fromSystemError } from "../util/errors.js";
import type { ImageAssembly } from "./image-assembly.js";

/** Bytes read from the temporary and written out at a time: memory stays at one buffer. */
const STEP = 1024 * 1024;

function readAt(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

function writeOut(out: Writable, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    out.write(bytes, (err) => (err ? reject(fromSystemError(err, "output")) : resolve())),
  );
}

/**
 * Streams an image being assembled to `out`, in order, as soon as each next stretch of it is in
 * the assembly's temporary (zero runs are holes there and read as zeros). The last byte waits
 * until the assembly is complete, so a pull that fails leaves a strict prefix on `out`, never
 * something that looks whole. Resolves once everything is written; stops writing at an abort
 * (the pull reports why) and rejects if `out` fails.
 */
export async function followAssembly(assembly: ImageAssembly, out: Writable): Promise<void> {
  // Its own descriptor: it stays valid when the pull removes the temporary on a failure.
  const fd = await promisify(open)(assembly.temporary, "r");
  // A reader that went away (EPIPE) fails the write in progress; unheard, it would end the process.
  const ignore = () => undefined;
  out.on("error", ignore);
  try {
    await follow(assembly, fd, out);
  } finally {
    out.off("error", ignore);
    await promisify(close)(fd);
  }
}

async function follow(assembly: ImageAssembly, fd: number, out: Writable): Promise<void> {
  const size = assembly.recipe.size;
  const buf = Buffer.allocUnsafe(STEP);
  let sent = 0;
  for (;;) {
    if (assembly.aborted) return;
    const complete = assembly.complete;
    if (complete && sent >= size) return;
    const ready = complete ? size : Math.min(assembly.readyBytes(), size - 1);
    if (sent >= ready) {
      await assembly.changed();
      continue;
    }
    const n = await readAt(fd, buf, Math.min(STEP, ready - sent), sent);
    if (assembly.aborted) return;
    if (n === 0) throw new NitroError(Exit.FAILURE, `image '${assembly.recipe.name}': temporary ended early`);
    await writeOut(out, buf.subarray(0, n));
    sent += n;
  }
}
