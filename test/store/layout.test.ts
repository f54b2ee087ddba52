import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { nextPackId, packDir, packIds, packPath } from "../../src/store/layout.js";
import { tempDir } from "../helpers/data.js";

const t = tempDir("nitro-layout-");
afterAll(t.cleanup);

it("names packs by number and numbers a new one past the highest present", () => {
  mkdirSync(packDir(t.dir));
  expect(nextPackId(t.dir)).toBe(1);
  expect(packPath(t.dir, 7)).toBe(join(t.dir, "packs", "00000007.pack"));
  for (const id of [3, 12, 7]) writeFileSync(packPath(t.dir, id), "");
  writeFileSync(join(packDir(t.dir), "00000099.pack.tmp"), "");
  expect(packIds(t.dir)).toEqual([3, 7, 12]);
  expect(nextPackId(t.dir)).toBe(13);
});
