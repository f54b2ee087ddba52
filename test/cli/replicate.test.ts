import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ReplicateEvent } from "../../src/transfer/replicate.js";
import { Exit } from "../../src/util/errors.js";
import { initLocalSites, nitro } from "../helpers/cli.js";
import { pseudoRandom, tempDir, writeSparse } from "../helpers/data.js";

const MiB = 1024 * 1024;
const events = (stdout: string) =>
  stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ReplicateEvent);

describe("nitro replicate between local sites", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const repos = initLocalSites(t.dir, "home", ["a", "b", "c"]);
  const home = repos.home!;
  const run = (...args: string[]) => nitro(["--repo", home, ...args]);

  it("refuses bad arguments with a usage error", () => {
    expect(run("replicate").code).toBe(Exit.USAGE);
    expect(run("replicate", "img").code).toBe(Exit.USAGE);
    expect(run("replicate", "img", "--to", "a", "--policy", "p.json").code).toBe(Exit.USAGE);
    expect(run("replicate", "img", "--to", "nowhere").code).toBe(Exit.NOT_FOUND);
    const noRepo = nitro(["--repo", join(t.dir, "none"), "replicate", "img", "--to", "a"]);
    expect(noRepo.code).toBe(Exit.NOT_FOUND);
    expect(noRepo.stderr).toMatch(/no nitro repository/);
  });

  it("follows a policy with minimum copies; a second run does nothing", () => {
    expect(run("site", "add", "home", home).code).toBe(0);
    const img = join(t.dir, "img.raw");
    writeSparse(img, 4 * MiB, [{ at: 0, data: pseudoRandom("replicate-cli", 3 * MiB) }]);
    expect(run("add", img).code).toBe(0);
    expect(run("site", "sync", "--to", "a,b,c").code).toBe(0);
    const policy = join(t.dir, "policy.json");
    writeFileSync(
      policy,
      JSON.stringify({ rules: [{ images: "im*", sites: ["a", "b", "c"], minCopies: 2 }] }),
    );
    const r = run("--json", "replicate", "--policy", policy);
    expect(r.code, r.stderr).toBe(0);
    expect(
      events(r.stdout)
        .filter((e) => e.event === "done")
        .map((e) => e.site)
        .sort(),
    ).toEqual(["a", "b"]);
    const again = run("--json", "replicate", "--policy", policy);
    expect(again).toMatchObject({ code: 0, stdout: "" });
    // A new image gets its copies although the first one already has its own.
    const img2 = join(t.dir, "img2.raw");
    writeSparse(img2, 2 * MiB, [{ at: 0, data: pseudoRandom("replicate-cli-2", MiB) }]);
    expect(run("add", img2).code).toBe(0);
    const next = run("--json", "replicate", "--policy", policy);
    expect(next.code, next.stderr).toBe(0);
    expect(
      events(next.stdout)
        .filter((e) => e.event === "done")
        .map((e) => `${e.image}@${e.site}`)
        .sort(),
    ).toEqual(["img2@a", "img2@b"]);
  });

  it("exits 11 when a target is unreachable and the others are done", () => {
    renameSync(repos.c!, `${repos.c!}.away`);
    const r = run("replicate", "img", "--to", "a,c");
    expect(r.code).toBe(Exit.PARTIAL);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/^nitro: replicate img to c failed: /),
    ]);
    renameSync(`${repos.c!}.away`, repos.c!);
    const back = run("--json", "replicate", "img", "--to", "a,c");
    expect(back.code, back.stderr).toBe(0);
    expect(
      events(back.stdout)
        .filter((e) => e.event === "done")
        .map((e) => e.site),
    ).toEqual(["c"]);
  });
});
