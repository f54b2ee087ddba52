import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Exit } from "../../src/util/errors.js";
import { NITRO_BIN, nitro } from "../helpers/cli.js";
import { tempDir } from "../helpers/data.js";
import { corruptChunks, storedChunks } from "../helpers/damage.js";
import { MiB, requireBuild, writeImage } from "../helpers/e2e.js";

requireBuild();
const t = tempDir("nitro-cli-verify-");
const here = join(t.dir, "here");
const other = join(t.dir, "other");
const run = (...args: string[]) => nitro(["--repo", here, ...args]);

beforeAll(() => {
  for (const [dir, site] of [
    [here, "here"],
    [other, "other"],
  ] as const)
    expect(
      nitro(["--repo", dir, "init", "--site", site, "--avg-size", "16K", "--compress", "none"]).code,
    ).toBe(0);
  const img = writeImage(join(t.dir, "img.raw"), 4 * MiB, [{ at: 0, size: 2 * MiB, seed: "cli-verify" }]);
  expect(run("add", img).code).toBe(0);
  expect(run("site", "add", "other", other).code).toBe(0);
  expect(run("site", "add", "slow", other, "--simulate-rate", "100Mbit").code).toBe(0);
  expect(run("push", "img", "--to", "other").code).toBe(0);
});
afterAll(t.cleanup);

describe("nitro verify", () => {
  it("refuses an unknown image or site (exit 3) and a site it may not maintain (exit 1)", () => {
    const image = run("--json", "verify", "nope");
    expect(image.code).toBe(Exit.NOT_FOUND);
    expect(JSON.parse(image.stdout)).toMatchObject({
      exitCode: Exit.NOT_FOUND,
      error: "no image 'nope' here",
    });
    const site = run("verify", "--site", "zz");
    expect(site.code).toBe(Exit.NOT_FOUND);
    expect(site.stderr).toContain("no site 'zz'");
    const slow = run("verify", "--site", "slow");
    expect(slow.code).toBe(Exit.FAILURE);
    expect(slow.stderr).toContain("site slow cannot be verified from here");
  });

  it("repairs this node from a local site: exit 0, then clean; no progress bar when not a terminal", async () => {
    const all = await storedChunks(here);
    const victims = all.filter((_, i) => i % 10 === 0);
    corruptChunks(here, victims);
    const found = run("verify", "--read-data", "img");
    expect(found.code).toBe(Exit.CORRUPT);
    expect(found.stdout).toContain(`${victims.length} problems`);
    for (const v of victims) expect(found.stdout).toContain(`chunk ${v.id} `);
    expect(found.stderr).toBe("");

    const fixed = run("verify", "--read-data", "--repair");
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toContain(`restored ${victims.length} chunks`);
    expect(fixed.stdout).toMatch(/verified again: here: .* clean/);
    expect(run("check", "--read-data").code).toBe(0);
  });

  it("shows a progress bar on a terminal (run under script(1), which gives it one)", () => {
    const cmd = [process.execPath, NITRO_BIN, "--repo", here, "verify", "--read-data"].join(" ");
    const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/verify here \|.*\| 100%/);
    expect(r.stdout).toContain("clean");
  });
});
