import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { nitro, nitroJson } from "../helpers/cli.js";
import { pseudoRandom, tempDir, writeSparse } from "../helpers/data.js";
import { useSmallDisk } from "../helpers/small-disk.js";

// A real full disk: a 24 MiB tmpfs.
describe("a full disk during add", () => {
  const t = tempDir();
  const mnt = useSmallDisk(t.dir, "24m", { after: t.cleanup });

  it("fails with exit 7 and one clear line, records no image, and leaves a store that checks clean", () => {
    const repo = join(mnt, "repo");
    expect(nitro(["--repo", repo, "init", "--compress", "none"]).code).toBe(0);
    const img = join(t.dir, "big.raw");
    writeSparse(img, 64 * 1024 * 1024, [{ at: 0, data: pseudoRandom("full", 48 * 1024 * 1024) }]);
    const r = nitro(["--repo", repo, "add", img]);
    expect(r.code).toBe(7);
    expect(r.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/^nitro: repository .*\/repo \(adding .*big\.raw\): no space left on device$/),
    ]);
    expect(nitroJson<unknown[]>(["--repo", repo, "ls"])).toEqual([]);
    expect(nitroJson<{ errors: string[] }>(["--repo", repo, "check", "--read-data"]).errors).toEqual([]);
  });

  // An image's commit may still be under way when a later image fails: it lands all the same.
  it("in the second of two images keeps the first one stored and whole", () => {
    const repo = join(mnt, "repo2");
    expect(nitro(["--repo", repo, "init", "--compress", "none"]).code).toBe(0);
    const small = join(t.dir, "small.raw");
    writeSparse(small, 8 * 1024 * 1024, [{ at: 0, data: pseudoRandom("small", 4 * 1024 * 1024) }]);
    const big = join(t.dir, "big2.raw");
    writeSparse(big, 64 * 1024 * 1024, [{ at: 0, data: pseudoRandom("big2", 48 * 1024 * 1024) }]);
    const r = nitro(["--repo", repo, "add", small, big]);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^nitro: repository .*repo2 \(adding .*big2\.raw\): no space left on device$/m);
    expect(nitroJson<Array<{ name: string }>>(["--repo", repo, "ls"]).map((i) => i.name)).toEqual(["small"]);
    expect(nitroJson<{ errors: string[] }>(["--repo", repo, "check", "--read-data"]).errors).toEqual([]);
    const out = join(t.dir, "small.out");
    expect(nitro(["--repo", repo, "export", "small", "-o", out]).code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(small))).toBe(true);
  });
});
