import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NITRO_BIN, nitro } from "../helpers/cli.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";

describe("bad input is refused up front, without hanging", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const repo = join(t.dir, "repo");
  nitro(["--repo", repo, "init"]);

  it("refuses a FIFO with no writer instead of blocking in open()", () => {
    const fifo = join(t.dir, "pipe.img");
    execFileSync("mkfifo", [fifo]);
    // Before the fix this blocked for ever: the timeout kills it (status null) instead.
    const r = spawnSync(process.execPath, [NITRO_BIN, "--repo", repo, "add", fifo], {
      encoding: "utf8",
      timeout: 5000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/pipe\.img: not a regular file or block device/);
  });

  it("refuses a character device", () => {
    const r = nitro(["--repo", repo, "add", "/dev/null", "--name", "null"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\/dev\/null: not a regular file/);
  });

  it("checks every file before storing any", () => {
    const img = join(t.dir, "good.img");
    writeFileSync(img, pseudoRandom("good", 100_000));
    expect(nitro(["--repo", repo, "add", img, "/dev/zero"]).code).toBe(2);
    expect(nitro(["--repo", repo, "--json", "ls"]).stdout.trim()).toBe("[]");
  });
});
