/** How an image is cut into chunks; recorded in the repository config and in every recipe. */
export type ChunkerKind = "fastcdc" | "fixed";

export interface ChunkerParams {
  kind: ChunkerKind;
  /** fastcdc: min/avg/max; fixed: avg is the chunk size and min = avg = max. */
  min: number;
  avg: number;
  max: number;
}
