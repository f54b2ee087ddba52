import { spawn } from "node:child_process";
import { appendFileSync, cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packIds, packPath } from "../../src/store/layout.js";
import { NITRO_BIN, nitro, nitroJson } from "../helpers/cli.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";
import { MiB, requireBuild, SETUP_TIMEOUT } from "../helpers/e2e.js";

interface Stats {
  packBytes: number;
  uniqueBytes: number;
  chunks: number;
  storedBytes: number;
}

/** Runs gc until it reaches the pause point, then kills it with SIGKILL. */
function gcKilledAt(repo: string, point: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [NITRO_BIN, "--repo", repo, "gc"], {
      env: { ...process.env, NITRO_TEST_PAUSE: point },
    });
    let stderr = "";
    let paused = false;
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (!paused && stderr.includes(`paused at ${point}`)) {
        paused = true;
        child.kill("SIGKILL");
      }
    });
    child.on("close", (code, signal) =>
      paused && signal === "SIGKILL"
        ? resolve()
        : reject(new Error(`gc never reached ${point} (exit ${code}): ${stderr}`)),
    );
  });
}

// Packs after set-up: 1 (A: 3 MiB own + 12 MiB shared with B), 2 (B's own 4 MiB), 3 (C), 4 (D,
// with 1 MiB a killed write left at its end) and 5 (a killed add's, which the index never saw).
// After `rm A C`, gc deletes pack 5, copies pack 1's six live frames and one regrouped frame
// (half A, half B) and pack 4's four frames, switches the index, then deletes packs 1, 3 and 4.
const POINTS = [
  "gc:locked",
  "gc:planned",
  "gc:orphans",
  ...Array.from({ length: 11 }, (_, i) => `gc:frame:${i + 1}`),
  "gc:copied",
  "gc:switched",
  "gc:unlinked:1",
  "gc:unlinked:2",
  "gc:unlinked:3",
];

describe("gc killed at any moment", () => {
  const t = tempDir("nitro-gc-crash-");
  const base = join(t.dir, "base");
  const imageB = join(t.dir, "B.img");
  let reference: Stats;

  beforeAll(() => {
    requireBuild();
    const shared = pseudoRandom("shared", 12 * MiB);
    const files: Record<string, Buffer> = {
      A: Buffer.concat([pseudoRandom("A", 3 * MiB), shared]),
      B: Buffer.concat([shared, pseudoRandom("B", 4 * MiB)]),
      C: pseudoRandom("C", 8 * MiB),
      D: pseudoRandom("D", 8 * MiB),
    };
    expect(nitro(["--repo", base, "init", "--chunker", "fixed"]).code).toBe(0);
    for (const [name, data] of Object.entries(files)) {
      const path = join(t.dir, `${name}.img`);
      writeFileSync(path, data);
      expect(nitro(["--repo", base, "add", path]).code).toBe(0);
    }
    expect(packIds(base)).toEqual([1, 2, 3, 4]);
    appendFileSync(packPath(base, 4), pseudoRandom("torn", MiB));
    cpSync(packPath(base, 3), packPath(base, 5));
    expect(nitro(["--repo", base, "rm", "A", "C"]).code).toBe(0);

    const ref = join(t.dir, "reference");
    cpSync(base, ref, { recursive: true });
    const report = nitroJson<{ packsRewritten: number; packsDeleted: number; packsWritten: number }>([
      "--repo",
      ref,
      "gc",
    ]);
    expect(report).toMatchObject({ packsRewritten: 2, packsDeleted: 2, packsWritten: 1 });
    reference = nitroJson<Stats>(["--repo", ref, "stats"]);
    expect(reference.uniqueBytes).toBe(24 * MiB);
  }, SETUP_TIMEOUT);
  afterAll(t.cleanup);

  it.each(POINTS)(
    "at %s: the store opens, nothing is lost, and a re-run finishes the job",
    async (point) => {
      const repo = join(t.dir, point.replace(/:/g, "-"));
      cpSync(base, repo, { recursive: true });
      await gcKilledAt(repo, point);

      const check = nitroJson<{ findings: unknown[]; incomplete: string[] }>([
        "--repo",
        repo,
        "check",
        "--read-data",
      ]);
      expect(check.findings).toEqual([]);
      expect(check.incomplete).toEqual([]);
      expect(nitroJson<Array<{ name: string }>>(["--repo", repo, "ls"]).map((i) => i.name)).toEqual([
        "B",
        "D",
      ]);

      expect(nitro(["--repo", repo, "gc"]).code).toBe(0);
      const after = nitroJson<Stats>(["--repo", repo, "stats"]);
      expect(after).toMatchObject({
        packBytes: reference.packBytes,
        uniqueBytes: reference.uniqueBytes,
        chunks: reference.chunks,
        storedBytes: reference.storedBytes,
      });
      expect(nitroJson<{ findings: unknown[] }>(["--repo", repo, "check", "--read-data"]).findings).toEqual(
        [],
      );
      const out = join(repo, "B.out");
      expect(nitro(["--repo", repo, "export", "B", "-o", out]).code).toBe(0);
      expect(readFileSync(out).equals(readFileSync(imageB))).toBe(true);
    },
    60_000,
  );
});
