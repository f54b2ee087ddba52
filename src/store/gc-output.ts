import { closeSync, fsyncSync, openSync, unlinkSync } from "node:fs";
import { encodeLocation } from "./index-db.js";
import { packDir, packPath } from "./layout.js";
import { frameHeader, PackWriter } from "./pack.js";
import type { Codec, FrameChunk } from "./types.js";

const PACK_LIMIT = 1024 * 1024 * 1024;

/** The new packs a gc copies live frames into, and the index entries that will point at them. */
export class GcOutput {
  private pack: PackWriter | undefined;
  private readonly written: PackWriter[] = [];
  /** Chunk id (latin1) → its new encoded location. */
  readonly moved = new Map<string, Buffer>();
  frames = 0;
  private closed = false;

  constructor(
    private readonly dir: string,
    private nextId: number,
  ) {}

  get packIds(): number[] {
    return this.written.map((p) => p.id);
  }

  get bytes(): number {
    return this.written.reduce((s, p) => s + p.size, 0);
  }

  /** Appends a frame as given (header and payload) and records where its chunks now are. */
  append(header: Buffer, payload: Buffer, chunks: FrameChunk[]): void {
    if (!this.pack || this.pack.size >= PACK_LIMIT) {
      this.pack = new PackWriter(this.nextId, packPath(this.dir, this.nextId));
      this.nextId++;
      this.written.push(this.pack);
    }
    const { offset, length } = this.pack.append(header, payload);
    let inner = 0;
    for (const c of chunks) {
      this.moved.set(
        c.id.toString("latin1"),
        encodeLocation({
          pack: this.pack.id,
          frameOffset: offset,
          frameLength: length,
          innerOffset: inner,
          rawLength: c.length,
        }),
      );
      inner += c.length;
    }
    this.frames++;
  }

  appendFrame(codec: Codec, chunks: FrameChunk[], payload: Buffer): void {
    this.append(frameHeader({ codec, chunks, payload }), payload, chunks);
  }

  /** Makes the new packs durable (data, then their directory entries) and closes them. */
  finish(): void {
    for (const p of this.written) {
      p.sync();
      p.close();
    }
    this.pack = undefined;
    this.closed = true;
    if (this.written.length > 0) syncDir(packDir(this.dir));
  }

  /** Deletes the new packs (the index never pointed at them). */
  discard(): void {
    for (const p of this.written) {
      if (!this.closed) p.close();
      unlinkSync(p.path);
    }
    this.written.length = 0;
    this.moved.clear();
  }
}

export function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
