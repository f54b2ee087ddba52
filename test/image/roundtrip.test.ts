import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nitro, nitroJson } from "../helpers/cli.js";
import { pseudoRandom, pseudoText, tempDir, writeSparse } from "../helpers/data.js";

const MiB = 1024 * 1024;

describe.each(["fastcdc", "fixed"])("add then export with the %s chunker", (chunker) => {
  const t = tempDir();
  afterAll(t.cleanup);
  const repo = join(t.dir, "repo");
  const img = join(t.dir, "mixed.img");
  const text = pseudoText("text", 3 * MiB);
  writeSparse(img, 96 * MiB + 12345, [
    { at: 0, data: pseudoRandom("head", 5 * MiB + 17) },
    { at: 8 * MiB, data: text },
    { at: 12 * MiB, data: text }, // a repeated region: stored once
    { at: 20 * MiB, data: Buffer.alloc(2 * MiB) }, // written zeros, not a hole
    { at: 40 * MiB, data: pseudoRandom("tail", 3 * MiB) },
    { at: 96 * MiB, data: pseudoRandom("end", 12345) },
  ]);

  it("rebuilds a byte-identical, sparse file", () => {
    expect(nitro(["--repo", repo, "init", "--chunker", chunker]).code).toBe(0);
    const add = nitroJson<{ newBytes: number; zeroBytes: number; logicalBytes: number }>([
      "--repo",
      repo,
      "add",
      img,
    ]);
    expect(add.logicalBytes).toBe(statSync(img).size);
    // the repeated text region and the zeros are not stored twice
    expect(add.newBytes).toBeLessThan(5 * MiB + 17 + 3 * MiB + 3 * MiB + 12345 + 2 * 256 * 1024);
    expect(add.zeroBytes).toBeGreaterThan(80 * MiB);
    const out = join(t.dir, "out.img");
    expect(nitro(["--repo", repo, "export", "mixed", "-o", out]).code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(img))).toBe(true);
    expect(statSync(out).blocks * 512).toBeLessThan(40 * MiB);
  });

  it("stores nothing new when the same image is added again under another name", () => {
    const again = nitroJson<{ newBytes: number; storedBytes: number }>([
      "--repo",
      repo,
      "add",
      img,
      "--name",
      "copy",
    ]);
    expect(again.newBytes).toBe(0);
    expect(again.storedBytes).toBe(0);
    const ls = nitroJson<Array<{ name: string }>>(["--repo", repo, "ls"]);
    expect(ls.map((r) => r.name).sort()).toEqual(["copy", "mixed"]);
  });
});
