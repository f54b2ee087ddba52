import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalSite } from "../../src/site/local.js";
import { RemoteSite } from "../../src/site/remote.js";
import type { Store } from "../../src/store/store.js";
import { Exit } from "../../src/util/errors.js";
import { ProtocolClient } from "../../src/wire/client.js";
import { ProtocolError } from "../../src/wire/errors.js";
import {
  decodeGcReport,
  decodeGcRequest,
  decodeNames,
  decodeSpace,
  encodeSpace,
  decodeStatusList,
  encodeGcReport,
  encodeStatusList,
} from "../../src/wire/maintain.js";
import { serveSite } from "../../src/wire/server.js";
import { tempDir } from "../helpers/data.js";
import { addTestImage, newStore } from "../helpers/sites.js";

const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe("lifecycle message bodies", () => {
  it("a status list survives the trip, split into bodies within the limit", () => {
    const list = Array.from({ length: 20_000 }, (_, i) => ({
      name: `image-${i}.raw`,
      recipe: true,
      size: 1000 + i,
      dataBytes: 1000,
      presentBytes: i % 1001,
      complete: i % 1001 === 1000,
    }));
    const bodies = encodeStatusList(list);
    expect(bodies.length).toBeGreaterThan(1);
    expect(bodies.flatMap((b) => decodeStatusList(b))).toEqual(list);
  });

  it("refuses what no honest site sends", () => {
    const good = { name: "a.raw", recipe: true, size: 10, dataBytes: 8, presentBytes: 4, complete: false };
    expect(decodeStatusList(json([good]))).toEqual([good]);
    for (const bad of [
      { ...good, presentBytes: 9 },
      { ...good, dataBytes: 11, presentBytes: 0 },
      { ...good, size: -1 },
      { ...good, name: "" },
      { ...good, complete: "yes" },
    ])
      expect(() => decodeStatusList(json([bad]))).toThrow(ProtocolError);
    expect(() => decodeStatusList(Buffer.from("not json"))).toThrow(ProtocolError);
    expect(() => decodeNames(json(["a", 3]))).toThrow(ProtocolError);
    expect(() => decodeSpace(json({ images: 1, freeBytes: 1.5, totalBytes: 2 }))).toThrow(ProtocolError);
    expect(() => decodeSpace(json({ images: 1, freeBytes: "none", totalBytes: null }))).toThrow(
      ProtocolError,
    );
    // An object store has no free-space figure: null round-trips.
    const unbounded = { images: 2, freeBytes: null, totalBytes: null };
    expect(decodeSpace(encodeSpace(unbounded))).toEqual(unbounded);
    expect(() => decodeGcRequest(json({ dryRun: "no" }))).toThrow(ProtocolError);
    const report = decodeGcReport(
      encodeGcReport({
        dryRun: false,
        packsBefore: 3,
        packsAfter: 1,
        packsRewritten: 1,
        packsDeleted: 1,
        packsWritten: 0,
        chunksDeleted: 7,
        packBytesBefore: 900,
        packBytesAfter: 300,
        bytesReclaimed: 600,
        liveBytes: 300,
        unusedBytesBefore: 600,
        unusedBytesAfter: 0,
      }),
    );
    expect(report.bytesReclaimed).toBe(600);
    const { chunksDeleted: _dropped, ...short } = report;
    expect(() => decodeGcReport(json(short))).toThrow(ProtocolError);
  });
});

describe("lifecycle requests served", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: Store;

  beforeEach(() => {
    tmp = tempDir();
    store = newStore(tmp.dir, "lyon");
  });

  afterEach(async () => {
    await store.close();
    tmp.cleanup();
  });

  /** A client and a server session over in-process pipes. */
  function session(readOnly: boolean) {
    const up = new PassThrough();
    const down = new PassThrough();
    const served = serveSite(new LocalSite("lyon", store), up, down, { readOnly });
    return { up, down, served };
  }

  it("a read-only server refuses rm and gc with FAILURE, removes nothing, and answers status and space", async () => {
    await addTestImage(store, tmp.dir, "base");
    const { up, down, served } = session(true);
    const client = new ProtocolClient("lyon", down, up);
    await client.ready();
    expect(client.readOnly).toBe(true);
    for (const call of [() => client.removeRecipes(["base"]), () => client.gc({ dryRun: false })])
      await expect(call()).rejects.toMatchObject({
        exitCode: Exit.FAILURE,
        message: expect.stringMatching(/^lyon: .*read-only/),
      });
    expect(store.listRecipes().map((r) => r.name)).toEqual(["base"]);
    const [status] = await client.status();
    expect(status).toMatchObject({ name: "base", recipe: true, complete: true });
    expect(await client.space()).toMatchObject({ images: 1 });
    await client.close();
    await served;
  });

  it("a RemoteSite over a writable server removes, collects and reports", async () => {
    await addTestImage(store, tmp.dir, "base");
    await addTestImage(store, tmp.dir, "other");
    const { up, down, served } = session(false);
    const site = new RemoteSite("lyon", { input: down, output: up });
    await expect(site.removeRecipes(["base", "missing"])).rejects.toMatchObject({
      exitCode: Exit.NOT_FOUND,
    });
    expect(await site.removeRecipes(["base"])).toEqual(["base"]);
    const report = await site.gc({ maxUnused: 0 });
    expect(report.chunksDeleted).toBeGreaterThan(0);
    expect(report.bytesReclaimed).toBeGreaterThan(0);
    expect((await site.status()).map((s) => [s.name, s.complete])).toEqual([["other", true]]);
    await site.close();
    await served;
  });

  it("RemoteSite refuses rm and gc itself when the server's HELLO says read-only", async () => {
    await addTestImage(store, tmp.dir, "base");
    const { up, down, served } = session(true);
    const site = new RemoteSite("lyon", { input: down, output: up });
    await expect(site.removeRecipes(["base"])).rejects.toThrow(
      "site lyon is read-only: image removal refused",
    );
    await expect(site.gc()).rejects.toThrow("site lyon is read-only: gc refused");
    await site.close();
    await served;
  });
});
