import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nitro } from "../helpers/cli.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";

/** `--json` prints JSON Lines: one compact object per image, one per line. */
function jsonStream(text: string): Array<Record<string, unknown>> {
  expect(text.endsWith("\n")).toBe(true);
  return text
    .slice(0, -1)
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("add with several files", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const shared = pseudoRandom("shared", 400_000);
  const files = ["a", "b", "c"].map((n) => {
    const path = join(t.dir, `${n}.img`);
    writeFileSync(path, Buffer.concat([shared, pseudoRandom(n, 200_000)]));
    return path;
  });
  let repos = 0;
  const freshRepo = () => {
    const repo = join(t.dir, `repo${repos++}`);
    expect(nitro(["--repo", repo, "init"]).code).toBe(0);
    return repo;
  };
  const images = (repo: string) =>
    (JSON.parse(nitro(["--repo", repo, "--json", "ls"]).stdout) as Array<{ name: string }>).map(
      (i) => i.name,
    );

  it("stores each file as its own image, one report each, deduplicated across them", () => {
    const repo = freshRepo();
    const r = nitro(["--repo", repo, "--json", "add", ...files]);
    expect(r.code).toBe(0);
    const reports = jsonStream(r.stdout);
    expect(reports.map((x) => x.name)).toEqual(["a", "b", "c"]);
    expect(reports[0]!.newBytes).toBe(600_000);
    expect(reports[1]!.newBytes).toBeLessThan(400_000); // the shared part was stored by a
    expect(images(repo).sort()).toEqual(["a", "b", "c"]);
    for (const [i, f] of files.entries()) {
      const out = join(t.dir, `out${i}`);
      expect(nitro(["--repo", repo, "export", ["a", "b", "c"][i]!, "-o", out]).code).toBe(0);
      expect(readFileSync(out).equals(readFileSync(f))).toBe(true);
    }
    expect(nitro(["--repo", repo, "check", "--read-data"]).code).toBe(0);
  });

  it("stores the same bytes as adding the files one by one", () => {
    const together = freshRepo();
    const oneByOne = freshRepo();
    expect(nitro(["--repo", together, "add", ...files]).code).toBe(0);
    for (const f of files) expect(nitro(["--repo", oneByOne, "add", f]).code).toBe(0);
    const stats = (repo: string) => JSON.parse(nitro(["--repo", repo, "--json", "stats"]).stdout) as object;
    expect(stats(together)).toEqual(stats(oneByOne));
  });

  const refusals: Array<[string, (repo: string) => string[], number, RegExp]> = [
    ["a missing last file", () => ["add", ...files, join(t.dir, "nope.img")], 3, /nope\.img: no such file/],
    ["a directory among them", () => ["add", files[0]!, t.dir], 2, /is a directory/],
    ["two files of one name", () => ["add", files[0]!, join(t.dir, "a.raw")], 2, /would both be image 'a'/],
    ["--name with several files", () => ["add", ...files, "--name", "x"], 2, /--name needs a single file/],
  ];
  writeFileSync(join(t.dir, "a.raw"), "x");

  it.each(refusals)("refuses %s before storing anything", (_what, args, code, message) => {
    const repo = freshRepo();
    const r = nitro(["--repo", repo, ...args(repo)]);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(images(repo)).toEqual([]);
    const stats = JSON.parse(nitro(["--repo", repo, "--json", "stats"]).stdout) as { storedBytes: number };
    expect(stats.storedBytes).toBe(0);
  });

  it("refuses an existing name among them before storing the others, unless --force", () => {
    const repo = freshRepo();
    expect(nitro(["--repo", repo, "add", files[2]!]).code).toBe(0);
    const r = nitro(["--repo", repo, "add", ...files]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/image 'c' already exists/);
    expect(images(repo)).toEqual(["c"]);
    expect(nitro(["--repo", repo, "add", ...files, "--force"]).code).toBe(0);
    expect(images(repo).sort()).toEqual(["a", "b", "c"]);
  });
});
