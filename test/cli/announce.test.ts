import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { initLocalSites, nitro, nitroJson } from "../helpers/cli.js";
import { pseudoRandom, tempDir, writeSparse } from "../helpers/data.js";

describe("an image announced to a site that lacks its chunks", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("is listed there as recipe-only, keeps check clean, and cannot be exported there", () => {
    const home = join(t.dir, "home");
    const [a, b] = [join(t.dir, "a"), join(t.dir, "b")];
    const img = join(t.dir, "img.raw");
    writeSparse(img, 8 * 1024 * 1024, [{ at: 0, data: pseudoRandom("announce", 3 * 1024 * 1024) }]);
    initLocalSites(t.dir, "home", ["a", "b"]);

    const push = nitroJson<{ announced: string[] }>(["--repo", home, "push", img, "--to", "a"]);
    expect(push.announced).toEqual(["b"]);

    expect(nitroJson<Array<{ name: string; complete: boolean }>>(["--repo", b, "ls"])).toEqual([
      expect.objectContaining({ name: "img", complete: false }),
    ]);
    expect(nitroJson<Array<{ complete: boolean }>>(["--repo", a, "ls"])[0]!.complete).toBe(true);
    const check = nitroJson<{ errors: string[]; incomplete: string[] }>([
      "--repo",
      b,
      "check",
      "--read-data",
    ]);
    expect(check).toMatchObject({ errors: [], incomplete: ["img"] });
    const exp = nitro(["--repo", b, "export", "img", "-o", join(t.dir, "out.raw")]);
    expect(exp.code).toBe(10);
    expect(exp.stderr).toMatch(/missing \d+ chunks/);
  });
});
