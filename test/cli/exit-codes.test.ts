import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nitro } from "../helpers/cli.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";

describe("bad input gets one clear line and a documented exit code", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const repo = join(t.dir, "repo");
  const img = join(t.dir, "disk.img");
  writeFileSync(img, pseudoRandom("cli", 300_000));
  nitro(["--repo", repo, "init"]);

  const cases: Array<[string, string[], number, RegExp]> = [
    ["missing input", ["add", join(t.dir, "nope.img")], 3, /no such file/],
    ["directory input", ["add", t.dir], 2, /is a directory/],
    ["invalid name", ["add", img, "--name", "../etc"], 2, /invalid image name/],
    ["unknown image", ["info", "ghost"], 3, /no image 'ghost'/],
    ["unknown command", ["frobnicate"], 2, /unknown command/],
    ["bad chunk size", ["--repo", join(t.dir, "r2"), "init", "--avg-size", "1000"], 2, /power of two/],
  ];

  it.each(cases)("%s", (_what, args, code, message) => {
    const r = nitro(args[0] === "--repo" ? args : ["--repo", repo, ...args]);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
  });

  it("refuses an existing image name unless --force", () => {
    expect(nitro(["--repo", repo, "add", img]).code).toBe(0);
    const again = nitro(["--repo", repo, "add", img]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/already exists/);
    expect(nitro(["--repo", repo, "add", img, "--force"]).code).toBe(0);
  });

  it("refuses a missing repository and one of an unknown version", () => {
    const missing = nitro(["--repo", join(t.dir, "none"), "ls"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/no nitro repository/);
    const future = join(t.dir, "future");
    mkdirSync(future);
    writeFileSync(join(future, "nitro.json"), JSON.stringify({ format: "nitro-repository", version: 99 }));
    const r = nitro(["--repo", future, "ls"]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/version 99/);
  });

  it("refuses to init over an existing repository", () => {
    expect(nitro(["--repo", repo, "init"]).code).toBe(4);
  });

  it("reports errors as JSON on stdout with --json", () => {
    const r = nitro(["--repo", repo, "--json", "info", "ghost"]);
    expect(JSON.parse(r.stdout)).toEqual({ error: expect.stringMatching(/ghost/), exitCode: 3 });
  });

  it.each([
    ["an unknown option", ["ls", "--frobnicate"], /unknown option '--frobnicate'/],
    ["a missing argument", ["info"], /missing required argument 'image'/],
    ["an unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
    ["a bad global option value", ["--lock-wait", "soon", "ls"], /--lock-wait takes a number/],
  ])("reports %s as a JSON error on stdout with --json", (_what, args, message) => {
    const r = nitro(["--repo", repo, "--json", ...args]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: expect.stringMatching(message), exitCode: 2 });
  });

  it("reports a path through a non-directory", () => {
    const r = nitro(["--repo", repo, "add", join(img, "child")]);
    expect(r.code).toBe(3);
    expect(r.stderr.split("\n").filter(Boolean)).toEqual([expect.stringMatching(/not a directory/)]);
  });
});
