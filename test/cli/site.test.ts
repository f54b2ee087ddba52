import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nitro, nitroJson } from "../helpers/cli.js";
import { tempDir } from "../helpers/data.js";

describe("nitro site add checks a site for its kind", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const home = join(t.dir, "home");

  it("refuses an unknown scheme and another kind's option (exit 2); keeps what it took", () => {
    expect(nitro(["--repo", home, "init", "--site", "home"]).code).toBe(0);
    const gs = nitro(["--repo", home, "site", "add", "bucket", "gs://bucket/images"]);
    expect(gs.code).toBe(2);
    expect(gs.stderr).toMatch(/unknown site URL scheme 'gs'.*\(local\).*\(ssh\).*\(s3\)/);
    const rate = nitro([
      "--repo",
      home,
      "site",
      "add",
      "lyon",
      "ssh://lyon/srv/nitro",
      "--simulate-rate",
      "1Gbit",
    ]);
    expect(rate.code).toBe(2);
    expect(rate.stderr).toMatch(/--simulate-rate is not an option of ssh sites/);
    const identity = nitro(["--repo", home, "site", "add", "lab", join(t.dir, "lab"), "--identity", "/k"]);
    expect(identity.code).toBe(2);
    expect(identity.stderr).toMatch(/--identity is not an option of local sites/);

    expect(
      nitro(["--repo", home, "site", "add", "lab", join(t.dir, "lab"), "--simulate-rate", "8Mbit", "--init"])
        .code,
    ).toBe(0);
    expect(nitroJson(["--repo", home, "site", "ls"])).toEqual([
      { name: "lab", url: join(t.dir, "lab"), simulateRate: 1e6 },
    ]);
  });
});
