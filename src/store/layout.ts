import { readdirSync } from "node:fs";
import { join } from "node:path";

/** Where a repository keeps its packs: `packs/NNNNNNNN.pack`, numbered from 1. */
export const packDir = (dir: string) => join(dir, "packs");

export const packPath = (dir: string, id: number) =>
  join(packDir(dir), `${String(id).padStart(8, "0")}.pack`);

const PACK_NAME = /^(\d+)\.pack$/;

/** The ids of the packs present, ascending. */
export function packIds(dir: string): number[] {
  const ids: number[] = [];
  for (const f of readdirSync(packDir(dir))) {
    const m = PACK_NAME.exec(f);
    if (m) ids.push(Number(m[1]));
  }
  return ids.sort((a, b) => a - b);
}

/** The id a new writer session's first pack gets: one past the highest present. */
export function nextPackId(dir: string): number {
  return Math.max(0, ...packIds(dir)) + 1;
}
