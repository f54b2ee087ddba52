import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { initLocalSites, nitro, nitroJson } from "../helpers/cli.js";
import { pseudoRandom, tempDir, writeSparse } from "../helpers/data.js";

describe("nitro plan IMAGE --site OTHER", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const home = join(t.dir, "home");

  it("plans for a healthy configured site, with this node among the sources", () => {
    initLocalSites(t.dir, "home", ["a", "b"]);
    const img = join(t.dir, "img.raw");
    writeSparse(img, 4 * 1024 * 1024, [{ at: 0, data: pseudoRandom("plan-other", 2 * 1024 * 1024) }]);
    expect(nitro(["--repo", home, "push", img, "--to", "a"]).code).toBe(0);

    const plan = nitroJson<{ dest: string; missing: number; sites: Array<{ site: string }> }>([
      "--repo",
      home,
      "plan",
      "img",
      "--site",
      "b",
    ]);
    expect(plan.dest).toBe("b");
    expect(plan.missing).toBeGreaterThan(0);
    expect(plan.sites.map((s) => s.site).sort()).toEqual(["a", "home"]);

    // The destination holding everything: nothing to fetch.
    const toA = nitroJson<{ missing: number }>(["--repo", home, "plan", "img", "--site", "a"]);
    expect(toA.missing).toBe(0);
  });

  it("names an unknown destination (exit 3)", () => {
    const r = nitro(["--repo", home, "plan", "img", "--site", "nowhere"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no site 'nowhere'/);
  });
});
