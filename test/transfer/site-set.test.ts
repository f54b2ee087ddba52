import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openSite } from "../../src/site/open.js";
import type { SiteConfig } from "../../src/site/registry.js";
import type { ReadSite } from "../../src/site/site.js";
import { ForwardingReadSite } from "../../src/site/wrapper.js";
import { Exit } from "../../src/util/errors.js";
import { planSites } from "../../src/transfer/plan-sites.js";
import { SiteSet } from "../../src/transfer/site-set.js";
import { tempDir } from "../helpers/data.js";
import { newStore } from "../helpers/sites.js";

describe("a set of sites opened together", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("opens in parallel, leaves out the unreachable with a note, closes all; plans to any of them", async () => {
    await Promise.all(["a", "b"].map((s) => newStore(t.dir, s).close()));
    const home = newStore(t.dir, "home");
    const configs: SiteConfig[] = [
      { name: "a", url: join(t.dir, "a") },
      { name: "gone", url: join(t.dir, "gone") },
      { name: "b", url: join(t.dir, "b") },
    ];
    const closed: string[] = [];
    class Tracked extends ForwardingReadSite {
      override async close(): Promise<void> {
        closed.push(this.name);
        await super.close();
      }
    }
    const notes: string[] = [];
    const set = await SiteSet.open(
      configs,
      async (cfg): Promise<ReadSite> => new Tracked(await openSite(cfg)),
      (m) => notes.push(m),
    );
    expect(set.opened.map((s) => s.config.name)).toEqual(["a", "b"]);
    expect(notes).toEqual([expect.stringMatching(/^gone is unreachable and left out: /)]);

    const toHere = planSites(home, set, "home");
    expect(toHere.candidates.map((c) => c.config.name)).toEqual(["a", "b"]);
    const toB = planSites(home, set, "b");
    expect(toB.candidates.map((c) => c.config.name)).toEqual(["a", "home"]);
    expect(await toB.destHas([Buffer.alloc(32, 7)])).toEqual([false]);
    expect(() => planSites(home, set, "gone")).toThrow(
      expect.objectContaining({ exitCode: Exit.NOT_FOUND, message: "no reachable site 'gone'" }),
    );

    await set.close();
    expect(closed.sort()).toEqual(["a", "b"]);
    await home.close();
  });

  it("says when every site has dialed or finished opening, before the slowest is open", async () => {
    const configs: SiteConfig[] = ["near", "far", "gone"].map((name) => ({ name, url: `/${name}` }));
    let openFar!: () => void;
    const farOpen = new Promise<void>((resolve) => (openFar = resolve));
    const site = (name: string) => ({ name, close: async () => undefined }) as unknown as ReadSite;
    const opening = SiteSet.start(
      configs,
      async (cfg, hooks) => {
        if (cfg.name === "gone") throw new Error("refused");
        if (cfg.name === "near") return site("near");
        hooks?.onDialed?.();
        await farOpen;
        return site("far");
      },
      () => undefined,
    );
    let dialed = false;
    void opening.dialed.then(() => (dialed = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(dialed).toBe(true);
    let allOpen = false;
    void opening.all.then(() => (allOpen = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(allOpen).toBe(false);
    openFar();
    expect((await opening.all).opened.map((s) => s.config.name)).toEqual(["near", "far"]);
  });

  it("does not say so while a site has neither dialed nor opened", async () => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const opening = SiteSet.start(
      [{ name: "slow", url: "/slow" }],
      async (cfg) => {
        await opened;
        return { name: cfg.name, close: async () => undefined } as unknown as ReadSite;
      },
      () => undefined,
    );
    let dialed = false;
    void opening.dialed.then(() => (dialed = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(dialed).toBe(false);
    open();
    await opening.dialed;
    await (await opening.all).close();
  });

  it("closes the sites open now without waiting for one still opening, which is closed once open", async () => {
    let openSlow!: () => void;
    const slowOpen = new Promise<void>((resolve) => (openSlow = resolve));
    const closed: string[] = [];
    const site = (name: string) =>
      ({ name, close: async () => void closed.push(name) }) as unknown as ReadSite;
    const opening = SiteSet.start(
      ["quick", "slow", "gone"].map((name) => ({ name, url: `/${name}` })),
      async (cfg) => {
        if (cfg.name === "gone") throw new Error("refused");
        if (cfg.name === "slow") await slowOpen;
        return site(cfg.name);
      },
      () => undefined,
    );
    await opening.each[0];
    await opening.each[2];
    expect(opening.stillOpening()).toEqual(["slow"]);
    await opening.close(); // does not wait for "slow"
    expect(closed).toEqual(["quick"]);
    openSlow();
    await opening.each[1];
    await new Promise((r) => setImmediate(r));
    expect(closed).toEqual(["quick", "slow"]);
    expect(opening.stillOpening()).toEqual([]);
  });
});
