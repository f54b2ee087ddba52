import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nitro, nitroJson } from "../helpers/cli.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";

const MiB = 1024 * 1024;

describe("nitro rm and nitro gc", () => {
  const t = tempDir("nitro-rm-");
  afterAll(t.cleanup);
  const repo = join(t.dir, "repo");
  const run = (...args: string[]) => nitro(["--repo", repo, ...args]);
  const shared = pseudoRandom("shared", 3 * MiB);
  const files = ["one", "two", "three"].map((name) => {
    const path = join(t.dir, `${name}.img`);
    writeFileSync(path, Buffer.concat([shared, pseudoRandom(name, 4 * MiB)]));
    return path;
  });

  it("removes images all or none, and gc reclaims their chunks with one summary line", () => {
    expect(run("init", "--chunker", "fixed", "--compress", "none").code).toBe(0);
    expect(run("add", ...files).code).toBe(0);
    const stored = nitroJson<{ packBytes: number }>(["--repo", repo, "stats"]).packBytes;

    const unknown = run("rm", "one", "ghost");
    expect(unknown.code).toBe(3);
    expect(unknown.stderr.trim()).toMatch(/^nitro: no image 'ghost' .*nothing removed$/);
    expect(nitroJson<Array<{ name: string }>>(["--repo", repo, "ls"])).toHaveLength(3);
    expect(run("rm", "../x").code).toBe(2);

    expect(nitroJson<{ removed: string[] }>(["--repo", repo, "rm", "one", "two"])).toEqual({
      removed: ["one", "two"],
    });
    const dry = nitroJson<{ dryRun: boolean; bytesReclaimed: number }>(["--repo", repo, "gc", "--dry-run"]);
    expect(dry.dryRun).toBe(true);
    expect(dry.bytesReclaimed).toBeGreaterThan(7 * MiB);
    expect(nitroJson<{ packBytes: number }>(["--repo", repo, "stats"]).packBytes).toBe(stored);

    const gc = run("gc");
    expect(gc.code).toBe(0);
    expect(gc.stdout.trim().split("\n")).toEqual([
      expect.stringMatching(/^reclaimed 8\.\d\d MiB: 1 packs rewritten, 0 deleted, 7\.00 MiB in use$/),
    ]);
    const after = nitroJson<{ packBytes: number; uniqueBytes: number }>(["--repo", repo, "stats"]);
    expect(after.uniqueBytes).toBe(7 * MiB);
    expect(stored - after.packBytes).toBeGreaterThanOrEqual(8 * MiB);
    expect(nitroJson<{ findings: unknown[] }>(["--repo", repo, "check", "--read-data"]).findings).toEqual([]);
    const out = join(t.dir, "three.out");
    expect(run("export", "three", "-o", out).code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(files[2]!))).toBe(true);
  });

  it("reports as one JSON object and refuses a bad --max-unused", () => {
    const again = nitroJson<{ packsRewritten: number; bytesReclaimed: number; seconds: number }>([
      "--repo",
      repo,
      "gc",
      "--max-unused",
      "0",
    ]);
    expect(again).toMatchObject({ packsRewritten: 0, bytesReclaimed: 0 });
    const bad = run("gc", "--max-unused", "150");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--max-unused takes a percentage from 0 to 100, got '150'/);
  });
});
