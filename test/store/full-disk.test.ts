import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nitro, nitroJson } from "../helpers/cli.js";
import { pseudoRandom, tempDir, writeSparse } from "../helpers/data.js";

// A real full disk: a 24 MiB tmpfs (mounting needs root, which CI and this machine have).
describe("a full disk during add", () => {
  const t = tempDir();
  const mnt = join(t.dir, "small");
  beforeAll(() => {
    mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt]);
  });
  afterAll(() => {
    execFileSync("umount", [mnt]);
    t.cleanup();
  });

  it("fails with exit 7 and one clear line, records no image, and leaves a store that checks clean", () => {
    const repo = join(mnt, "repo");
    expect(nitro(["--repo", repo, "init", "--compress", "none"]).code).toBe(0);
    const img = join(t.dir, "big.raw");
    writeSparse(img, 64 * 1024 * 1024, [{ at: 0, data: pseudoRandom("full", 48 * 1024 * 1024) }]);
    const r = nitro(["--repo", repo, "add", img]);
    expect(r.code).toBe(7);
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/no space left on device/)]);
    expect(nitroJson<unknown[]>(["--repo", repo, "ls"])).toEqual([]);
    expect(nitroJson<{ errors: string[] }>(["--repo", repo, "check", "--read-data"]).errors).toEqual([]);
  });
});
