import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { nitro, nitroJson } from "../helpers/cli.js";
import { pseudoRandom, tempDir, writeSparse } from "../helpers/data.js";
import { useSmallDisk } from "../helpers/small-disk.js";
import { MiB, requireBuild } from "../helpers/e2e.js";

// A real full disk: a 24 MiB tmpfs.
describe("gc after a failed add on a full disk", () => {
  const t = tempDir("nitro-gc-full-");
  const mnt = useSmallDisk(t.dir, "24m", { before: requireBuild, after: t.cleanup });

  it("reclaims the orphan pack the failed add left, so that the next add fits", () => {
    const repo = join(mnt, "repo");
    expect(nitro(["--repo", repo, "init", "--compress", "none"]).code).toBe(0);
    const big = join(t.dir, "big.raw");
    writeSparse(big, 64 * MiB, [{ at: 0, data: pseudoRandom("full-big", 48 * MiB) }]);
    expect(nitro(["--repo", repo, "add", big]).code).toBe(7);
    const orphan = nitroJson<{ packBytes: number; storedBytes: number }>(["--repo", repo, "stats"]);
    expect(orphan.storedBytes).toBe(0);
    expect(orphan.packBytes).toBeGreaterThan(16 * MiB);

    const small = join(t.dir, "small.raw");
    writeSparse(small, 16 * MiB, [{ at: 0, data: pseudoRandom("full-small", 12 * MiB) }]);
    expect(nitro(["--repo", repo, "add", small]).code).toBe(7);

    const report = nitroJson<{ bytesReclaimed: number; packsDeleted: number; packBytesAfter: number }>([
      "--repo",
      repo,
      "gc",
    ]);
    expect(report.packsDeleted).toBeGreaterThanOrEqual(1);
    expect(report.bytesReclaimed).toBeGreaterThanOrEqual(orphan.packBytes);
    expect(report.packBytesAfter).toBe(0);

    expect(nitro(["--repo", repo, "add", small]).code).toBe(0);
    expect(nitroJson<{ errors: string[] }>(["--repo", repo, "check", "--read-data"]).errors).toEqual([]);
    const out = join(t.dir, "small.out");
    expect(nitro(["--repo", repo, "export", "small", "-o", out]).code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(small))).toBe(true);
  });

  it("with no room to copy live frames fails with exit 7, keeps everything, and leaves no new pack", () => {
    const repo = join(mnt, "tight");
    expect(nitro(["--repo", repo, "init", "--compress", "none"]).code).toBe(0);
    const keep = join(t.dir, "keep.raw");
    const drop = join(t.dir, "drop.raw");
    writeSparse(keep, 14 * MiB, [{ at: 0, data: pseudoRandom("tight-keep", 14 * MiB) }]);
    writeSparse(drop, 4 * MiB, [{ at: 0, data: pseudoRandom("tight-drop", 4 * MiB) }]);
    expect(nitro(["--repo", repo, "add", keep, drop]).code).toBe(0);
    expect(nitro(["--repo", repo, "rm", "drop"]).code).toBe(0);
    const before = readdirSync(join(repo, "packs"));

    const r = nitro(["--repo", repo, "gc"]);
    expect(r.code).toBe(7);
    expect(r.stderr.trim()).toBe("nitro: gc: no space left on device");
    expect(readdirSync(join(repo, "packs"))).toEqual(before);
    expect(nitroJson<{ errors: string[] }>(["--repo", repo, "check", "--read-data"]).errors).toEqual([]);
    const out = join(t.dir, "keep.out");
    expect(nitro(["--repo", repo, "export", "keep", "-o", out]).code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(keep))).toBe(true);
    // A threshold the pack is under leaves it alone and succeeds.
    expect(nitro(["--repo", repo, "gc", "--max-unused", "50"]).code).toBe(0);
  });
});
