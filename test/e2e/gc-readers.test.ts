import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packIds } from "../../src/store/layout.js";
import { entryCount, entryId } from "../../src/store/recipe.js";
import { Store } from "../../src/store/store.js";
import { ZERO_ID } from "../../src/store/types.js";
import { NITRO_BIN, nitro, nitroJson } from "../helpers/cli.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";
import { MiB, requireBuild, SETUP_TIMEOUT } from "../helpers/e2e.js";

const HALF = 48 * MiB;

// R is two halves, each stored in its own pack beside 8 MiB of an image that `rm` retires: gc
// rewrites both packs (17% unused) while a reader is part-way through R.
function setUp(root: string, name: string): { repo: string; image: string } {
  const repo = join(root, name);
  const h1 = pseudoRandom(`${name}-h1`, HALF);
  const h2 = pseudoRandom(`${name}-h2`, HALF);
  expect(nitro(["--repo", repo, "init", "--chunker", "fixed", "--compress", "none"]).code).toBe(0);
  const add = (file: string, data: Buffer) => {
    const path = join(root, `${name}-${file}.img`);
    writeFileSync(path, data);
    expect(nitro(["--repo", repo, "add", path, "--name", file]).code).toBe(0);
    return path;
  };
  add("p", Buffer.concat([h1, pseudoRandom(`${name}-p`, 8 * MiB)]));
  add("q", Buffer.concat([h2, pseudoRandom(`${name}-q`, 8 * MiB)]));
  const image = add("r", Buffer.concat([h1, h2]));
  expect(packIds(repo)).toEqual([1, 2]);
  expect(nitro(["--repo", repo, "rm", "p", "q"]).code).toBe(0);
  return { repo, image };
}

function gc(repo: string): { packsRewritten: number } {
  const r = nitroJson<{ packsRewritten: number }>(["--repo", repo, "gc"]);
  expect(packIds(repo)).not.toContain(1);
  expect(packIds(repo)).not.toContain(2);
  return r;
}

describe("gc beside readers", () => {
  const t = tempDir("nitro-gc-readers-");
  beforeAll(requireBuild, SETUP_TIMEOUT);
  afterAll(t.cleanup);

  it(
    "an export stopped part-way while gc retires its packs finishes identical",
    async () => {
      const { repo, image } = setUp(t.dir, "export");
      const out = join(t.dir, "r.out");
      const child = spawn(process.execPath, [NITRO_BIN, "--repo", repo, "export", "r", "-o", out]);
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const done = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
      // Stop it once it has written its first 8 MiB batch (the temporary file is sparse till then).
      let written = 0;
      while (written < 8 * MiB) {
        const tmp = readdirSync(t.dir).find((f) => f.startsWith(".r.out.nitro-"));
        written = tmp ? statSync(join(t.dir, tmp)).blocks * 512 : 0;
        if (existsSync(out)) throw new Error("the export finished before it could be stopped");
      }
      child.kill("SIGSTOP");
      expect(written).toBeLessThan(HALF);
      expect(gc(repo).packsRewritten).toBe(2);
      child.kill("SIGCONT");
      expect(await done).toBe(0);
      expect(stderr).toBe("");
      expect(readFileSync(out).equals(readFileSync(image))).toBe(true);
    },
    SETUP_TIMEOUT,
  );

  it(
    "frames read for sending (serve, push) come whole from a retired pack held open and from one already gone",
    async () => {
      const { repo, image } = setUp(t.dir, "frames");
      const reader = Store.open(repo);
      try {
        const recipe = reader.getRecipe("r")!;
        const ids = Array.from({ length: entryCount(recipe) }, (_, i) => entryId(recipe, i)).filter(
          (id) => !id.equals(ZERO_ID),
        );
        const frames = reader.readFrames(ids);
        const first = frames.next();
        expect(first.done).toBe(false);
        // Pack 1 is open here, pack 2 not yet: gc (another process) now deletes both.
        gc(repo);
        const got = new Map<string, Buffer>();
        const keep = (f: {
          chunks: Array<{ id: Buffer; length: number }>;
          payload: Buffer;
          codec: number;
        }) => {
          expect(f.codec).toBe(0);
          let o = 0;
          for (const c of f.chunks) {
            got.set(c.id.toString("hex"), Buffer.from(f.payload.subarray(o, o + c.length)));
            o += c.length;
          }
        };
        if (!first.done) keep(first.value);
        for (const f of frames) keep(f);
        const rebuilt = Buffer.concat(ids.map((id) => got.get(id.toString("hex"))!));
        expect(got.size).toBe(ids.length);
        expect(rebuilt.equals(readFileSync(image))).toBe(true);
      } finally {
        await reader.close();
      }
    },
    SETUP_TIMEOUT,
  );
});
