import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeDirs } from "../../src/util/make-dirs.js";
import { tempDir } from "../helpers/data.js";

let t: ReturnType<typeof tempDir>;
afterEach(() => t.cleanup());

describe("makeDirs", () => {
  it("makes every missing directory of a path, and accepts one that exists", () => {
    t = tempDir();
    const deep = join(t.dir, "a", "b", "c");
    makeDirs(deep);
    expect(existsSync(deep)).toBe(true);
    mkdirSync(join(t.dir, "x"));
    expect(() => makeDirs(join(t.dir, "x"))).not.toThrow();
  });

  it("fails with the system's reason, not ENOENT, when a file is in the way", () => {
    t = tempDir();
    writeFileSync(join(t.dir, "f"), "");
    expect(() => makeDirs(join(t.dir, "f", "d", "e"))).toThrow(expect.objectContaining({ code: "ENOTDIR" }));
  });
});
