import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Store } from "../../src/store/store.js";
import { ENTRY_BYTES } from "../../src/store/types.js";
import { nitro, nitroJson } from "../helpers/cli.js";
import { pseudoRandom, tempDir, writeSparse } from "../helpers/data.js";

describe("the image digest", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const repo = join(t.dir, "repo");
  const img = join(t.dir, "img.raw");
  const digestOf = (name: string) =>
    nitroJson<{ digest: string }>(["--repo", repo, "--json", "info", name]).digest;

  it("is the same for the same bytes and changes with one byte", () => {
    const data = pseudoRandom("digest", 3 * 1024 * 1024);
    writeSparse(img, 4 * 1024 * 1024, [{ at: 0, data }]);
    expect(nitro(["--repo", repo, "init"]).code).toBe(0);
    expect(nitro(["--repo", repo, "add", img, "--name", "a"]).code).toBe(0);
    expect(nitro(["--repo", repo, "add", img, "--name", "b"]).code).toBe(0);
    data[2_000_000]! ^= 1;
    writeSparse(img, 4 * 1024 * 1024, [{ at: 0, data }]);
    expect(nitro(["--repo", repo, "add", img, "--name", "c"]).code).toBe(0);
    expect(digestOf("a")).toMatch(/^[0-9a-f]{64}$/);
    expect(digestOf("b")).toBe(digestOf("a"));
    expect(digestOf("c")).not.toBe(digestOf("a"));
  });

  it("makes export and check refuse a recipe whose chunk list was altered", async () => {
    const store = Store.open(repo);
    const r = store.getRecipe("a")!;
    const entries = Buffer.from(r.entries);
    // Swap the first two entries: every chunk is still present and intact, only the order lies.
    const first = Buffer.from(entries.subarray(0, ENTRY_BYTES));
    entries.copy(entries, 0, ENTRY_BYTES, 2 * ENTRY_BYTES);
    first.copy(entries, ENTRY_BYTES);
    const altered = { ...r, entries };
    // The store refuses to record it; it gets in only behind the store's back (damage on disk).
    expect(() => store.putRecipe(altered, { force: true })).toThrow(/does not match its digest/);
    store.index.env.transactionSync(() => store.index.writeRecipe(altered));
    await store.close();

    const out = join(t.dir, "out.raw");
    const exp = nitro(["--repo", repo, "export", "a", "-o", out]);
    expect(exp.code).toBe(5);
    expect(exp.stderr).toMatch(/chunk list does not match its digest/);
    expect(existsSync(out)).toBe(false);
    const check = nitro(["--repo", repo, "check"]);
    expect(check.code).toBe(5);
    expect(check.stdout + check.stderr).toMatch(/image 'a'/);
    expect(nitro(["--repo", repo, "export", "b", "-o", out]).code).toBe(0);
  });
});
