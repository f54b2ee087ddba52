import { afterAll, describe, expect, it } from "vitest";
import { LocalSite } from "../../src/site/local.js";
import { holdingOf, holdingText, whereImages } from "../../src/site/where.js";
import { Store } from "../../src/store/store.js";
import { remote } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import { addTestImage, newStore } from "../helpers/sites.js";

const status = (presentBytes: number, dataBytes: number, recipe = true) => ({
  name: "x",
  recipe,
  size: dataBytes + 100,
  dataBytes,
  presentBytes,
  complete: recipe && presentBytes === dataBytes,
});

describe("holdingOf", () => {
  it("reads a status as complete, recipe only, partial (rounded down, never 100%) or absent", () => {
    expect(holdingOf(undefined)).toEqual({ state: "absent" });
    expect(holdingOf(status(0, 0, false))).toEqual({ state: "absent" });
    expect(holdingOf(status(10, 10))).toEqual({ state: "complete" });
    expect(holdingOf(status(0, 0))).toEqual({ state: "complete" });
    expect(holdingOf(status(0, 10))).toEqual({ state: "recipe-only" });
    expect(holdingOf(status(9_999, 10_000))).toMatchObject({ state: "partial", percent: 99.9 });
    expect(holdingOf(status(1, 1_000_000))).toMatchObject({ state: "partial", percent: 0 });
    expect(holdingText(holdingOf(status(5, 7)))).toBe("partial 71.4%");
  });
});

describe("whereImages", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("asks every site once, unions their images, and shows a site that cannot be opened as unreachable", async () => {
    const lyon = newStore(t.dir, "lyon");
    const paris = newStore(t.dir, "paris");
    const { recipe: base } = await addTestImage(lyon, t.dir, "base");
    await addTestImage(paris, t.dir, "other");
    paris.putRecipe(base); // announced: recipe only
    await Promise.all([lyon.close(), paris.close()]);
    const asked: string[] = [];
    const source = (name: string) => ({
      name,
      open: async () => {
        asked.push(name);
        return new LocalSite(name, Store.open(`${t.dir}/${name}`));
      },
    });
    const table = await whereImages([
      source("lyon"),
      source("paris"),
      {
        name: "nice",
        open: async () => {
          throw remote("nice: connection refused");
        },
      },
    ]);
    expect(asked.sort()).toEqual(["lyon", "paris"]);
    expect(table.sites).toEqual([
      { name: "lyon" },
      { name: "paris" },
      { name: "nice", error: "nice: connection refused" },
    ]);
    expect(table.images).toEqual([
      {
        image: "base",
        size: base.size,
        at: { lyon: { state: "complete" }, paris: { state: "recipe-only" }, nice: { state: "unreachable" } },
      },
      {
        image: "other",
        size: base.size,
        at: { lyon: { state: "absent" }, paris: { state: "complete" }, nice: { state: "unreachable" } },
      },
    ]);
    const named = await whereImages([source("lyon")], ["other", "base", "other"]);
    expect(named.images.map((r) => [r.image, r.at.lyon!.state])).toEqual([
      ["other", "absent"],
      ["base", "complete"],
    ]);
  });
});
