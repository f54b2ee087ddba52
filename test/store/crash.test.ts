import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NITRO_BIN, nitro, nitroJson } from "../helpers/cli.js";
import { pseudoRandom, tempDir, writeSparse } from "../helpers/data.js";

function packBytes(repo: string): number {
  const dir = join(repo, "packs");
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

describe("an add killed with SIGKILL", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const repo = join(t.dir, "repo");
  const img = join(t.dir, "big.raw");

  it("leaves a store that opens, checks clean and accepts the same add again", async () => {
    const MiB = 1024 * 1024;
    writeSparse(img, 400 * MiB, [{ at: 0, data: pseudoRandom("big", 380 * MiB) }]);
    expect(nitro(["--repo", repo, "init"]).code).toBe(0);

    const child = spawn(process.execPath, [NITRO_BIN, "--repo", repo, "add", img], { stdio: "ignore" });
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on("exit", (_c, sig) => r(sig)));
    // Kill once more than one auto-commit's worth of frames is in the packs, mid-image.
    while (packBytes(repo) < 280 * MiB) await new Promise((r) => setTimeout(r, 5));
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");

    expect(nitroJson<unknown[]>(["--repo", repo, "ls"])).toEqual([]);
    const check = nitroJson<{ errors: string[]; chunks: number }>(["--repo", repo, "check", "--read-data"]);
    expect(check.errors).toEqual([]);

    const again = nitroJson<{ newBytes: number }>(["--repo", repo, "add", img]);
    expect(again.newBytes).toBeLessThan(380 * MiB);
    const out = join(t.dir, "out.raw");
    expect(nitro(["--repo", repo, "export", "big", "-o", out]).code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(img))).toBe(true);
    expect(nitroJson<{ errors: string[] }>(["--repo", repo, "check", "--read-data"]).errors).toEqual([]);
  });
});
