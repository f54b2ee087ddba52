import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NITRO_BIN, initLocalSites, nitro } from "../helpers/cli.js";
import { pseudoRandom, pseudoText, tempDir, writeSparse } from "../helpers/data.js";

const MiB = 1024 * 1024;

/** The CLI with its standard output kept as bytes. */
function nitroBytes(args: string[]) {
  const r = spawnSync(process.execPath, [NITRO_BIN, ...args], { maxBuffer: 256 * MiB });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("pull NAME -o -: the image on standard output while it is fetched", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const img = join(t.dir, "img.raw");
  writeSparse(img, 24 * MiB, [
    { at: 0, data: pseudoRandom("stream-a", 3 * MiB) },
    { at: 9 * MiB, data: pseudoText("stream-b", 2 * MiB) },
    { at: 20 * MiB, data: pseudoRandom("stream-c", 1 * MiB + 17) },
  ]);
  const repos = initLocalSites(t.dir, "home", ["a", "b"]);
  // home pushes to a and announces to b: b knows the image by its recipe only, a holds it.
  expect(nitro(["--repo", repos.home!, "push", img, "--to", "a"]).code).toBe(0);
  expect(nitro(["--repo", repos.b!, "site", "add", "a", repos.a!]).code).toBe(0);
  const temporaries = (dir: string) => readdirSync(dir).filter((f) => f.includes(".nitro-tmp-"));

  it("refuses --json, --force and --site elsewhere with -o -", () => {
    for (const extra of [["--json"], ["--force"], ["--site", "a"]]) {
      const json = extra[0] === "--json";
      const args = json
        ? ["--repo", repos.b!, "--json", "pull", "img", "-o", "-"]
        : ["--repo", repos.b!, "pull", "img", "-o", "-", ...extra];
      const r = nitroBytes(args);
      expect(r.code, r.stderr).toBe(2);
      // With --json the error itself is the JSON on stdout; no image byte either way.
      if (json) expect(r.stdout.toString()).toMatch(/cannot be used with -o -/);
      else expect(r.stdout.length).toBe(0);
      if (!json) expect(r.stderr).toMatch(/-o -/);
    }
  });

  it("writes exactly the image to stdout, its report on stderr, and stores the chunks", () => {
    const r = nitroBytes(["--repo", repos.b!, "pull", "img", "-o", "-"]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(r.stdout)).toBe(sha(readFileSync(img)));
    expect(r.stderr).toMatch(/pulled img: .*\n[\s\S]*wrote standard output/);
    expect(temporaries(repos.b!)).toEqual([]);
    expect(nitroBytes(["--repo", repos.b!, "export", "img", "-o", "-"]).stdout.equals(r.stdout)).toBe(true);
  });

  it("exits 10 with a message and writes nothing when no site holds the chunks", () => {
    const lost = join(t.dir, "lost.raw");
    writeSparse(lost, 4 * MiB, [{ at: MiB, data: pseudoRandom("stream-lost", 2 * MiB) }]);
    // Announced to b, then gone from every site that held it.
    expect(nitro(["--repo", repos.home!, "push", lost, "--to", "a"]).code).toBe(0);
    for (const site of ["home", "a"]) {
      expect(nitro(["--repo", repos[site]!, "rm", "lost"]).code).toBe(0);
      expect(nitro(["--repo", repos[site]!, "gc", "--max-unused", "0"]).code).toBe(0);
    }
    const r = nitroBytes(["--repo", repos.b!, "pull", "lost", "-o", "-"]);
    expect(r.code).toBe(10);
    expect(r.stderr).toMatch(/held by no reachable site/);
    expect(r.stdout.length).toBe(0);
    expect(temporaries(repos.b!)).toEqual([]);
  });
});
