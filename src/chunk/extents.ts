import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { seekSync } = require("fs-ext") as typeof import("fs-ext");

const SEEK_DATA = 3;
const SEEK_HOLE = 4;

export interface Segment {
  start: number;
  end: number;
  /** A hole reads as zeros: it is recorded as a zero run without being read. */
  hole: boolean;
}

/**
 * Splits a file into data and hole segments with lseek(SEEK_DATA/SEEK_HOLE). Holes are shrunk to
 * `align` boundaries (so fixed-size chunks stay aligned) and kept only when at least `minHole`
 * long; shorter ones are read as data. Filesystems without sparse support give one data segment.
 */
export function segments(fd: number, size: number, align: number, minHole: number): Segment[] {
  const holes: Array<[number, number]> = [];
  try {
    let off = 0;
    while (off < size) {
      const data = seekOrEnd(fd, off, SEEK_DATA, size);
      if (data > off) holes.push([off, data]);
      if (data >= size) break;
      off = seekOrEnd(fd, data, SEEK_HOLE, size);
    }
  } catch {
    holes.length = 0;
  }
  const out: Segment[] = [];
  let pos = 0;
  for (const [a, b] of holes) {
    const start = Math.ceil(a / align) * align;
    const end = b === size ? size : Math.floor(b / align) * align;
    if (end - start < minHole) continue;
    if (start > pos) out.push({ start: pos, end: start, hole: false });
    out.push({ start, end, hole: true });
    pos = end;
  }
  if (pos < size) out.push({ start: pos, end: size, hole: false });
  return out;
}

function seekOrEnd(fd: number, off: number, whence: number, size: number): number {
  try {
    return Math.min(seekSync(fd, off, whence), size);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENXIO") return size;
    throw err;
  }
}
