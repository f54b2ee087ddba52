import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NITRO_BIN, nitro } from "../helpers/cli.js";
import { tempDir } from "../helpers/data.js";

describe("bin/nitro.js run as a program", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("starts through its #! line, whose node flags are accepted and in effect", async () => {
    const run = spawnSync(NITRO_BIN, ["--version"], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe("0.1.0");

    const repo = join(t.dir, "repo");
    expect(nitro(["--repo", repo, "init"]).code).toBe(0);
    // `serve --stdio` greets, then waits on its input: the process has become node by then
    const child = spawn(NITRO_BIN, ["--repo", repo, "serve", "--stdio"], {
      stdio: ["pipe", "pipe", "ignore"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    await new Promise((resolve) => child.stdout.once("data", resolve));
    child.stdout.resume();
    try {
      const argv = readFileSync(`/proc/${child.pid}/cmdline`, "utf8").split("\0");
      expect(argv).toContain("--initial-old-space-size=64");
      expect(argv).toContain("--interrupt-budget=1048576");
    } finally {
      child.stdin.end();
    }
    expect(await exited).toBe(0);
  });
});
