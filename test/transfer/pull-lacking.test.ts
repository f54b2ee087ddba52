import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { lackingOnce } from "../../src/transfer/pull.js";
import type { Store } from "../../src/store/store.js";
import type { ChunkId } from "../../src/store/types.js";
import { tempDir } from "../helpers/data.js";
import { addTestImage, newStore } from "../helpers/sites.js";

let tmp: ReturnType<typeof tempDir>;
let store: Store;

beforeEach(() => {
  tmp = tempDir();
  store = newStore(tmp.dir, "here");
});

afterEach(async () => {
  await store.close();
  tmp.cleanup();
});

describe("lackingOnce", () => {
  it("reads the destination once for the same recipe, from whichever site it came, again for another", async () => {
    const { recipe: a } = await addTestImage(store, tmp.dir, "a");
    const { recipe: b } = await addTestImage(store, tmp.dir, "b");
    const asked: number[] = [];
    const lack = lackingOnce((ids: ChunkId[]) => {
      asked.push(ids.length);
      return ids.map(() => false);
    });
    const first = await lack(a);
    // The same recipe as another site sends it: equal bytes, another object.
    const copy = { ...a, entries: Buffer.from(a.entries) };
    expect(await lack(copy)).toBe(first);
    expect(asked.length).toBe(1);
    expect(first.need.length).toBe(first.ids.length);
    const other = await lack(b);
    expect(other).not.toBe(first);
    expect(asked.length).toBe(2);
    // Only the last answer is kept; a recipe claiming a's digest with other chunks is not a.
    await lack(a);
    expect(asked.length).toBe(3);
    await lack({ ...a, entries: Buffer.from(b.entries) });
    expect(asked.length).toBe(4);
  });
});
