import { Writable } from "node:stream";

/**
 * A stream that records each write it is handed, as the system call would get it: writes made
 * under one cork arrive as one writev and are recorded as one buffer.
 */
export function writeRecorder(): { out: Writable; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk);
      cb();
    },
    writev(chunks, cb) {
      writes.push(Buffer.concat(chunks.map((c) => c.chunk as Buffer)));
      cb();
    },
  });
  return { out, writes };
}
