import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nitro } from "../helpers/cli.js";
import { tempDir } from "../helpers/data.js";

describe("matrix numbers are checked at every entry point", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const repo = join(t.dir, "repo");
  nitro(["--repo", repo, "init", "--site", "here"]);
  const matrixFile = join(repo, "matrix.json");
  const run = (...args: string[]) => nitro(["--repo", repo, ...args]);

  it.each([
    ["--cost Infinity", ["--bandwidth", "100Mbit", "--cost", "Infinity"], /--cost takes a price/],
    ["--cost NaN", ["--bandwidth", "100Mbit", "--cost", "abc"], /--cost takes a price/],
    ["--cost empty", ["--bandwidth", "100Mbit", "--cost", ""], /--cost takes a price/],
    ["a 400-digit bandwidth", ["--bandwidth", `${"9".repeat(400)}Mbit`], /invalid bandwidth/],
    ["a 400-digit rtt", ["--bandwidth", "1Mbit", "--rtt", `${"9".repeat(400)}s`], /invalid duration/],
  ])("matrix set with %s exits 2 and stores nothing", (_what, options, message) => {
    const r = run("matrix", "set", "a", "here", ...options);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(JSON.parse(run("--json", "matrix").stdout)).toEqual([]);
  });

  it("matrix import of 1e999 exits 2 naming the line, and stores nothing", () => {
    const csv = join(t.dir, "links.csv");
    writeFileSync(
      csv,
      "from,to,bandwidth_bytes_per_s,rtt_s,cost_usd_per_gb,updated,origin\na,here,1e999,,,,\n",
    );
    const r = run("matrix", "import", csv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/line 2: bandwidth/);
    expect(run("matrix", "export").stdout).not.toMatch(/null/);
  });

  it("a damaged matrix.json is named with exit 5 by matrix, matrix set and probe", () => {
    const far = join(t.dir, "far");
    nitro(["--repo", far, "init", "--site", "a"]);
    expect(run("site", "add", "a", far).code).toBe(0);
    writeFileSync(
      matrixFile,
      '{"links":[{"from":"a","to":"here","bandwidth":null,"updated":"x","origin":"probe"}]}',
    );
    for (const args of [["matrix"], ["matrix", "set", "a", "here", "--bandwidth", "1Mbit"], ["probe", "a"]]) {
      const r = run(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 5 });
      expect(r.stderr).toMatch(/matrix\.json is damaged \(matrix link 1: bandwidth/);
    }
    expect(readFileSync(matrixFile, "utf8")).toMatch(/null/); // left for the user to fix
  });
});
