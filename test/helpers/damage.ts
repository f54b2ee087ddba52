import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { decodeLocation } from "../../src/store/index-db.js";
import { packPath } from "../../src/store/layout.js";
import { FRAME_HEADER_BYTES } from "../../src/store/pack.js";
import { ENTRY_BYTES } from "../../src/store/types.js";
import { withRepo } from "./e2e.js";

/** Where one chunk's bytes sit in a repository's packs. */
export interface StoredChunk {
  id: string;
  pack: number;
  frameOffset: number;
  innerOffset: number;
  rawLength: number;
}

/** Every chunk the repository's index records, in id order. */
export function storedChunks(repo: string): Promise<StoredChunk[]> {
  return withRepo(repo, (s) =>
    [...s.index.chunks.getRange()].map(({ key, value }) => {
      const loc = decodeLocation(value);
      return { id: Buffer.from(key).toString("hex"), ...loc };
    }),
  );
}

function flip(path: string, at: number, mask = 0xff): void {
  const fd = openSync(path, "r+");
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0]! ^= mask;
    writeSync(fd, b, 0, 1, at);
  } finally {
    closeSync(fd);
  }
}

/**
 * Flips a byte in the middle of each chunk's bytes on disk. The frames must be stored raw
 * (`init --compress none`), so that exactly these chunks stop matching their ids.
 */
export function corruptChunks(repo: string, chunks: readonly StoredChunk[]): void {
  for (const c of chunks) {
    const path = packPath(repo, c.pack);
    const fd = openSync(path, "r");
    const head = Buffer.alloc(FRAME_HEADER_BYTES);
    readSync(fd, head, 0, FRAME_HEADER_BYTES, c.frameOffset);
    closeSync(fd);
    if (head.readUInt8(4) !== 0) throw new Error("corruptChunks needs raw frames (init --compress none)");
    const headerLength = FRAME_HEADER_BYTES + head.readUInt16LE(6) * ENTRY_BYTES;
    flip(path, c.frameOffset + headerLength + c.innerOffset + (c.rawLength >>> 1));
  }
}

/** Garbles the magic of the frame at `frameOffset`: every chunk in it is then unreadable. */
export function damageFrameHeader(repo: string, pack: number, frameOffset: number): void {
  flip(packPath(repo, pack), frameOffset + 1, 0x20);
}
