import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { initLocalSites, nitro, nitroJson } from "../helpers/cli.js";
import { pseudoRandom, tempDir, writeSparse } from "../helpers/data.js";

const MiB = 1024 * 1024;

describe("nitro push FILE --name EXISTING", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const [home, a, b] = ["home", "a", "b"].map((s) => join(t.dir, s)) as [string, string, string];
  const digestAt = (repo: string) =>
    nitroJson<Array<{ name: string; digest: string }>>(["--repo", repo, "ls"]).find((i) => i.name === "img")
      ?.digest;

  it("refuses to replace a different image (exit 4), here and at every site, unless --force", () => {
    initLocalSites(t.dir, "home", ["a", "b"]);
    const first = join(t.dir, "first.raw");
    const second = join(t.dir, "second.raw");
    writeSparse(first, 4 * MiB, [{ at: 0, data: pseudoRandom("first", 2 * MiB) }]);
    writeSparse(second, 4 * MiB, [{ at: 0, data: pseudoRandom("second", 2 * MiB) }]);

    expect(nitro(["--repo", home, "push", first, "--name", "img", "--to", "a"]).code).toBe(0);
    const original = digestAt(home);
    expect(original).toBeDefined();
    expect([digestAt(a), digestAt(b)]).toEqual([original, original]);

    const refused = nitro(["--repo", home, "push", second, "--name", "img", "--to", "a"]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/image 'img' already exists.*--force/);
    expect([digestAt(home), digestAt(a), digestAt(b)]).toEqual([original, original, original]);

    const forced = nitroJson<{ results: Array<{ site: string }> }>([
      "--repo",
      home,
      "push",
      second,
      "--name",
      "img",
      "--to",
      "a",
      "--force",
    ]);
    expect(forced.results.map((r) => r.site)).toEqual(["a"]);
    const replaced = digestAt(home);
    expect(replaced).not.toBe(original);
    expect(digestAt(a)).toBe(replaced);
  });
});
