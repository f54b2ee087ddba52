import type { ChunkerParams } from "./params.js";
import { usage } from "../util/errors.js";
import { fastcdcCut } from "./fastcdc.js";

/**
 * Finds the end of the chunk starting at `start` in buf[start, end). The caller passes at least
 * `max` bytes unless the data region ends before, so the answer never depends on read sizes.
 */
export type CutFunction = (buf: Uint8Array, start: number, end: number) => number;

/**
 * The largest chunk is 4 MiB: a frame (2 MiB of chunks plus the one that overflows it) then
 * always fits the wire's 16 MiB frame limit, even uncompressed.
 */
const MAX_CHUNK = 4 * 1024 * 1024;

export function chunkerParams(kind: string, avg: number): ChunkerParams {
  if (kind !== "fixed" && kind !== "fastcdc")
    throw usage(`unknown chunker '${kind}' (expected fastcdc or fixed)`);
  const maxAvg = kind === "fixed" ? MAX_CHUNK : MAX_CHUNK / 4;
  if (!Number.isInteger(avg) || avg < 1024 || avg > maxAvg || (avg & (avg - 1)) !== 0)
    throw usage(
      `${kind} chunk size must be a power of two between 1K and ${maxAvg / 1024 / 1024}M, got ${avg}`,
    );
  return kind === "fixed" ? { kind, min: avg, avg, max: avg } : { kind, min: avg / 4, avg, max: avg * 4 };
}

export function cutFunction(p: ChunkerParams): CutFunction {
  if (p.kind === "fixed") return (_buf, start, end) => Math.min(end, start + p.max);
  return fastcdcCut(p);
}
