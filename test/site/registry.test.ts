import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openSite, openWriteSite } from "../../src/site/open.js";
import { SiteRegistry } from "../../src/site/registry.js";
import { isWriteSite } from "../../src/site/site.js";
import { ThrottledSite } from "../../src/site/throttled.js";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import { newStore } from "../helpers/sites.js";

describe("the site registry (sites.json)", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("reads sites.json as older versions wrote it and opens its local sites", async () => {
    const repo = join(t.dir, "home");
    mkdirSync(repo);
    const lab = join(t.dir, "lab");
    await newStore(t.dir, "lab").close();
    const written = {
      sites: [
        // Older versions took any option for any kind: an SSH option on a local site is ignored.
        { name: "lab", url: lab, egressCost: 0.01, simulateRate: 50e6, remoteCommand: "/opt/nitro" },
        { name: "lyon", url: "ssh://nitro@lyon/srv/nitro", remoteCommand: "/opt/nitro", identity: "/k" },
      ],
    };
    writeFileSync(join(repo, "sites.json"), JSON.stringify(written, null, 2));
    const registry = new SiteRegistry(repo);
    expect(registry.list()).toEqual(written.sites);
    const site = await openSite(registry.get("lab"));
    expect(site).toBeInstanceOf(ThrottledSite);
    expect(isWriteSite(site)).toBe(true);
    expect(site.name).toBe("lab");
    await site.close();
    const again = await openWriteSite(registry.get("lab"));
    expect(await again.listRecipes()).toEqual([]);
    await again.close();
  });

  it("checks a new site for its kind, and keeps the field names", () => {
    const registry = new SiteRegistry(t.dir);
    expect(() => registry.add({ name: "s", url: "gs://bucket/x" })).toThrow(
      expect.objectContaining({ exitCode: Exit.USAGE }),
    );
    expect(() => registry.add({ name: "r", url: "ssh://h/srv", simulateRate: 1 })).toThrow(
      expect.objectContaining({ exitCode: Exit.USAGE }),
    );
    registry.add({ name: "r", url: "ssh://h/srv", remoteCommand: "nitro2" });
    expect(registry.get("r")).toEqual({ name: "r", url: "ssh://h/srv", remoteCommand: "nitro2" });
    expect(() => registry.add({ name: "r", url: "/srv" })).toThrow(
      expect.objectContaining({ exitCode: Exit.EXISTS }),
    );
  });
});
