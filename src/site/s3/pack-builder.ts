import { frameHeader } from "../../store/pack.js";
import type { Frame } from "../../store/types.js";
import { newPackId } from "./layout.js";
import type { PackEntry } from "./pack-index.js";

/** A pack object being filled in memory: frames back to back, as in a repository's pack files. */
export class PackBuilder {
  readonly id = newPackId();
  readonly entries: PackEntry[] = [];
  private readonly parts: Buffer[] = [];
  size = 0;
  rawBytes = 0;

  /** Copies the frame in (its buffers may be recycled once this returns). */
  add(frame: Frame): void {
    const header = frameHeader(frame);
    const frameLength = header.length + frame.payload.length;
    let inner = 0;
    for (const c of frame.chunks) {
      this.entries.push({
        id: Buffer.from(c.id),
        frameOffset: this.size,
        frameLength,
        innerOffset: inner,
        rawLength: c.length,
      });
      inner += c.length;
    }
    this.parts.push(header, Buffer.from(frame.payload));
    this.size += frameLength;
    this.rawBytes += inner;
  }

  body(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}
