import type { ChunkerParams } from "../store/types.js";
import { usage } from "../util/errors.js";
import { fastcdcCut } from "./fastcdc.js";

/**
 * Finds the end of the chunk starting at `start` in buf[start, end). The caller passes at least
 * `max` bytes unless the data region ends before, so the answer never depends on read sizes.
 */
export type CutFunction = (buf: Uint8Array, start: number, end: number) => number;

export function chunkerParams(kind: string, avg: number): ChunkerParams {
  if (!Number.isInteger(avg) || avg < 1024 || avg > 64 * 1024 * 1024 || (avg & (avg - 1)) !== 0)
    throw usage(`chunk size must be a power of two between 1K and 64M, got ${avg}`);
  if (kind === "fixed") return { kind, min: avg, avg, max: avg };
  if (kind === "fastcdc") return { kind, min: avg / 4, avg, max: avg * 4 };
  throw usage(`unknown chunker '${kind}' (expected fastcdc or fixed)`);
}

export function cutFunction(p: ChunkerParams): CutFunction {
  if (p.kind === "fixed") return (_buf, start, end) => Math.min(end, start + p.max);
  return fastcdcCut(p);
}
