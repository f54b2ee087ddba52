import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalSite } from "../../src/site/local.js";
import { uniqueChunks } from "../../src/store/recipe.js";
import { pullChunks } from "../../src/transfer/pull.js";
import { tempDir } from "../helpers/data.js";
import { addTestImage, newStore } from "../helpers/sites.js";
import { useSmallDisk } from "../helpers/small-disk.js";

// A real full disk for the output file: a 4 MiB tmpfs, for an image of 9 MiB of data.
describe("pull -o onto a full disk", () => {
  const t = tempDir();
  const mnt = useSmallDisk(t.dir, "4m", { after: t.cleanup });

  it("fails with exit 7 naming the output, blames no source, and leaves no temporary", async () => {
    const origin = newStore(t.dir, "origin");
    const { recipe } = await addTestImage(origin, t.dir, "img");
    const sites = ["a", "b"].map((n) => newStore(t.dir, n));
    const ids = uniqueChunks(recipe).ids;
    for (const s of sites)
      await new LocalSite(s.config.site, s).putFrames(
        (async function* () {
          yield* origin.readFrames(ids);
        })(),
      );
    const dest = newStore(t.dir, "dest");
    const out = join(mnt, "img.raw");
    const sources = sites.map((s) => ({
      name: s.config.site,
      site: new LocalSite(s.config.site, s),
      bandwidth: 50e6,
      cost: 0,
    }));
    const events: string[] = [];
    await expect(
      pullChunks(dest, recipe, sources, { output: { path: out }, onEvent: (m) => events.push(m) }),
    ).rejects.toMatchObject({
      exitCode: 7,
      message: `${out}: no space left on device`,
    });
    // The disk here was full, not a source at fault: none was dropped.
    expect(events.filter((e) => e.includes("dropped"))).toEqual([]);
    expect(readdirSync(mnt)).toEqual([]);
    expect(dest.check(true).errors).toEqual([]);
  });
});
