import { existsSync, openSync, readdirSync, closeSync, readSync, writeSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nitro } from "../helpers/cli.js";
import { pseudoRandom, tempDir, writeSparse } from "../helpers/data.js";

describe("a corrupted pack byte", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const repo = join(t.dir, "repo");
  const img = join(t.dir, "img.raw");

  it("is detected on export, which leaves no output file behind, and by check --read-data", () => {
    writeSparse(img, 8 * 1024 * 1024, [{ at: 0, data: pseudoRandom("x", 6 * 1024 * 1024) }]);
    expect(nitro(["--repo", repo, "init", "--compress", "none"]).code).toBe(0);
    expect(nitro(["--repo", repo, "add", img]).code).toBe(0);
    expect(nitro(["--repo", repo, "check", "--read-data"]).code).toBe(0);

    const pack = join(repo, "packs", readdirSync(join(repo, "packs"))[0]!);
    const at = Math.floor(statSync(pack).size / 2);
    const fd = openSync(pack, "r+");
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0]! ^= 0x55;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);

    const out = join(t.dir, "out.raw");
    const r = nitro(["--repo", repo, "export", "img", "-o", out]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/corrupt/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(t.dir).filter((f) => f.includes(".nitro-tmp"))).toEqual([]);
    expect(nitro(["--repo", repo, "check", "--read-data"]).code).toBe(5);
  });
});
