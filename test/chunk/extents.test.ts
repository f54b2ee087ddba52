import { openSync, closeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { segments } from "../../src/chunk/extents.js";
import { pseudoRandom, tempDir, writeSparse } from "../helpers/data.js";

describe("data and hole segments (SEEK_DATA)", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const MiB = 1024 * 1024;

  it("finds the holes of a sparse file and never marks data as a hole", () => {
    const path = join(t.dir, "sparse.img");
    writeSparse(path, 64 * MiB, [
      { at: 0, data: pseudoRandom("a", MiB) },
      { at: 32 * MiB, data: pseudoRandom("b", MiB) },
    ]);
    const fd = openSync(path, "r");
    const segs = segments(fd, 64 * MiB, 64 * 1024, MiB);
    closeSync(fd);
    expect(segs[0]).toMatchObject({ start: 0, hole: false });
    const holes = segs.filter((s) => s.hole);
    expect(holes.reduce((n, s) => n + s.end - s.start, 0)).toBeGreaterThan(60 * MiB);
    for (const h of holes) {
      expect((h.start >= MiB && h.end <= 32 * MiB) || h.start >= 33 * MiB).toBe(true);
    }
    expect(segs.at(-1)!.end).toBe(64 * MiB);
    for (let i = 1; i < segs.length; i++) expect(segs[i]!.start).toBe(segs[i - 1]!.end);
  });

  it("treats holes shorter than the minimum as data", () => {
    const path = join(t.dir, "small-holes.img");
    writeSparse(path, 4 * MiB, [
      { at: 0, data: pseudoRandom("c", MiB) },
      { at: MiB + 256 * 1024, data: pseudoRandom("d", 2 * MiB) },
    ]);
    const fd = openSync(path, "r");
    const segs = segments(fd, 4 * MiB, 4096, MiB);
    closeSync(fd);
    expect(segs.filter((s) => s.hole && s.start < 3 * MiB)).toEqual([]);
  });
});
