import { afterAll, describe, expect, it } from "vitest";
import { requireWriteSite } from "../../src/site/site.js";
import { ForwardingReadSite } from "../../src/site/wrapper.js";
import { pushToTargets } from "../../src/transfer/push-targets.js";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import { addTestImage, localSite, newStore } from "../helpers/sites.js";

describe("pushing to several targets", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("reports each target's result or failure; a read-only one is refused and stores nothing", async () => {
    const src = newStore(t.dir, "src");
    const lyon = newStore(t.dir, "lyon");
    const ro = newStore(t.dir, "ro");
    const { recipe } = await addTestImage(src, t.dir, "img");
    const outcome = await pushToTargets(src, recipe, [
      { name: "lyon", opening: Promise.resolve(localSite(lyon)) },
      { name: "ro", opening: (async () => requireWriteSite(new ForwardingReadSite(localSite(ro))))() },
      { name: "gone", opening: Promise.reject(new Error("connection refused")) },
    ]);
    expect(outcome.results.map((r) => r.site)).toEqual(["lyon"]);
    expect(outcome.failures.map((f) => [f.site, f.error.exitCode, f.error.message])).toEqual([
      ["ro", Exit.FAILURE, "site ro is read-only"],
      ["gone", Exit.FAILURE, "connection refused"],
    ]);
    expect(outcome.error?.message).toBe("site ro is read-only");
    expect(ro.listRecipes()).toEqual([]);
    expect(ro.index.counters().chunks).toBe(0);
    await Promise.all([src.close(), ro.close()]);
  });
});
