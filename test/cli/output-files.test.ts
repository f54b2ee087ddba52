import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NITRO_BIN, nitro, nitroJson } from "../helpers/cli.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";

describe("output files: checked up front, temporaries never left behind", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const repo = join(t.dir, "repo");
  const far = join(t.dir, "far");
  const img = join(t.dir, "disk.img");
  writeFileSync(img, pseudoRandom("outputs", 96 * 1024 * 1024));
  nitro(["--repo", repo, "init", "--site", "here", "--compress", "none"]);
  nitro(["--repo", repo, "add", img, "--name", "disk"]);
  nitro(["--repo", far, "init", "--site", "far"]);
  nitro(["--repo", far, "add", img, "--name", "disk"]);
  nitro(["--repo", repo, "site", "add", "far", far]);
  const temporaries = (dir: string) => readdirSync(dir).filter((f) => f.includes(".nitro-tmp-"));

  it("export into a missing directory exits 3 naming it", () => {
    const r = nitro(["--repo", repo, "export", "disk", "-o", join(t.dir, "missing", "x.img")]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/output directory .*missing: no such file/);
  });

  it("pull into a missing directory exits 3 before fetching any chunk", () => {
    const fresh = join(t.dir, "fresh");
    nitro(["--repo", fresh, "init", "--site", "fresh"]);
    nitro(["--repo", fresh, "site", "add", "far", far]);
    const r = nitro(["--repo", fresh, "pull", "disk", "-o", join(t.dir, "missing", "x.img")]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/output directory .*missing: no such file/);
    expect(nitroJson<{ chunks: number }>(["--repo", fresh, "stats"]).chunks).toBe(0);
  });

  it("the next export into a directory removes temporaries whose process is dead", () => {
    const out = join(t.dir, "stale");
    mkdirSync(out);
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    writeFileSync(join(out, `.old.img.nitro-tmp-${dead}`), "left by a killed export");
    writeFileSync(join(out, `.live.img.nitro-tmp-${process.pid}`), "still being written");
    expect(nitro(["--repo", repo, "export", "disk", "-o", join(out, "x.img")]).code).toBe(0);
    expect(temporaries(out)).toEqual([`.live.img.nitro-tmp-${process.pid}`]);
  });

  it("SIGTERM during an export removes its temporary", async () => {
    const out = join(t.dir, "killed");
    mkdirSync(out);
    const child = spawn(process.execPath, [
      NITRO_BIN,
      "--repo",
      repo,
      "export",
      "disk",
      "-o",
      join(out, "x.img"),
    ]);
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    while (temporaries(out).length === 0) await new Promise((r) => setTimeout(r, 2));
    child.kill("SIGTERM");
    const code = await exited;
    expect(code).toBe(143);
    expect(existsSync(join(out, "x.img"))).toBe(false);
    expect(temporaries(out)).toEqual([]);
  });
});
