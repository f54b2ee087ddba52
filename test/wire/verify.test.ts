import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { LocalSite } from "../../src/site/local.js";
import type { ChunkFinding, Finding } from "../../src/store/check.js";
import { packPath } from "../../src/store/layout.js";
import { FRAME_HEADER_BYTES } from "../../src/store/pack.js";
import { ENTRY_BYTES } from "../../src/store/types.js";
import type { VerifyEvent } from "../../src/store/verify.js";
import { Exit } from "../../src/util/errors.js";
import { ProtocolClient } from "../../src/wire/client.js";
import { Limits, Msg } from "../../src/wire/protocol.js";
import { serveSite } from "../../src/wire/server.js";
import { decodeFinding, encodeFinding, encodeVerifyReport } from "../../src/wire/verify.js";
import { tempDir } from "../helpers/data.js";
import { makeChunks, rawStore, recipeOf, storeImages } from "../store/fixtures.js";
import { ScriptedServer } from "./scripted-server.js";

/** A client and `nitro serve` over a pair of in-process streams. */
function session(site: LocalSite, readOnly = false): ProtocolClient {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  serveSite(site, toServer, toClient, { readOnly }).catch(() => {});
  return new ProtocolClient("lyon", toClient, toServer);
}

const finding = (over: Partial<Record<string, unknown>> = {}) =>
  Buffer.from(
    JSON.stringify({
      kind: "bad-hash",
      chunk: "ab".repeat(32),
      pack: 1,
      offset: 16,
      images: ["debian-12"],
      detail: "its bytes do not match its id",
      ...over,
    }),
  );

describe("VERIFY over the protocol", () => {
  const t = tempDir("nitro-wire-verify-");
  afterAll(t.cleanup);

  it("streams the site's findings and progress, then its report; drop deletes at the site", async () => {
    const store = rawStore(t.dir, "served");
    const chunks = makeChunks("served", 64);
    await storeImages(store, chunks, [recipeOf(store, "a", chunks), recipeOf(store, "b", chunks.slice(40))]);
    const loc = store.index.location(chunks[50]!.id)!;
    // Frames of 32 raw chunks: one byte of chunk 50's data.
    const at = loc.frameOffset + FRAME_HEADER_BYTES + 32 * ENTRY_BYTES + loc.innerOffset + 5;
    const fd = openSync(packPath(store.dir, loc.pack), "r+");
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0]! ^= 1;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);

    const client = session(new LocalSite("served", store));
    try {
      await client.ready();
      const events: VerifyEvent[] = [];
      const report = await client.verify({ images: [], readData: true, drop: false }, (e) => events.push(e));
      expect(report).toMatchObject({ chunks: 64, images: 2, findings: 1, dropped: 0, incomplete: [] });
      const found = events.flatMap((e) => (e.type === "finding" ? [e.finding as ChunkFinding] : []));
      expect(found.map((f) => [f.chunk.toString("hex"), f.kind, f.images])).toEqual([
        [chunks[50]!.id.toString("hex"), "bad-hash", ["a", "b"]],
      ]);
      const last = events.filter((e) => e.type === "progress").at(-1);
      expect(last).toMatchObject({ done: expect.any(Number) as number });
      expect(last?.type === "progress" && last.done === last.total).toBe(true);

      const dropped = await client.verify({ images: ["b"], readData: true, drop: true }, () => {});
      expect(dropped).toMatchObject({ chunks: 24, findings: 1, dropped: 1, incomplete: ["b"] });
      expect(store.has([chunks[50]!.id])).toEqual([false]);
    } finally {
      await client.close();
      await store.close();
    }
  });

  it("is refused with drop by a read-only server, which still verifies", async () => {
    const store = rawStore(t.dir, "readonly");
    const chunks = makeChunks("readonly", 8);
    await storeImages(store, chunks, [recipeOf(store, "a", chunks)]);
    const client = session(new LocalSite("readonly", store), true);
    try {
      await expect(
        client.verify({ images: [], readData: false, drop: true }, () => {}),
      ).rejects.toMatchObject({
        exitCode: Exit.FAILURE,
        message: expect.stringContaining("read-only") as string,
      });
      await expect(
        client.verify({ images: ["a"], readData: true, drop: false }, () => {}),
      ).resolves.toMatchObject({
        chunks: 8,
        findings: 0,
      });
      await expect(
        client.verify({ images: ["zz"], readData: true, drop: false }, () => {}),
      ).rejects.toMatchObject({
        exitCode: Exit.NOT_FOUND,
      });
    } finally {
      await client.close();
      await store.close();
    }
  });

  it("takes a site's findings as data only: a malformed one ends the session", async () => {
    const bad = [
      finding({ chunk: "zz".repeat(32) }),
      finding({ chunk: "ab" }),
      finding({ kind: "rm -rf" }),
      finding({ images: ["../etc/passwd"] }),
      finding({ pack: -1 }),
      Buffer.from("not json"),
    ];
    for (const body of bad) {
      const s = new ScriptedServer((m, server) => {
        if (m.type === Msg.VERIFY) server.reply(Msg.VERIFY_FINDING, m.req, body);
      });
      await s.client.ready();
      const err = s.client.verify({ images: [], readData: false, drop: false }, () => {});
      await expect(err).rejects.toMatchObject({
        exitCode: Exit.REMOTE,
        message: expect.stringContaining("protocol error") as string,
      });
    }
  });

  it("accepts a well-formed stream ending in REPORT then END, and nothing after the REPORT but END", async () => {
    const report = { chunks: 3, frames: 1, images: 1, findings: 1, dropped: 0, incomplete: [] };
    const good = new ScriptedServer((m, server) => {
      if (m.type !== Msg.VERIFY) return;
      server.reply(Msg.VERIFY_FINDING, m.req, finding());
      server.reply(Msg.VERIFY_REPORT, m.req, encodeVerifyReport(report));
      server.reply(Msg.END, m.req);
    });
    const events: VerifyEvent[] = [];
    await expect(
      good.client.verify({ images: [], readData: false, drop: false }, (e) => events.push(e)),
    ).resolves.toEqual(report);
    expect(events).toHaveLength(1);

    const late = new ScriptedServer((m, server) => {
      if (m.type !== Msg.VERIFY) return;
      server.reply(Msg.VERIFY_REPORT, m.req, encodeVerifyReport(report));
      server.reply(Msg.VERIFY_FINDING, m.req, finding());
    });
    await expect(
      late.client.verify({ images: [], readData: false, drop: false }, () => {}),
    ).rejects.toMatchObject({
      exitCode: Exit.REMOTE,
    });
  });

  it("names as many images as fit in one message and counts the others", () => {
    const images = Array.from({ length: 5000 }, (_, i) => `image-number-${i}`);
    const f: Finding = {
      kind: "bad-hash",
      chunk: Buffer.alloc(32, 1),
      pack: 1,
      offset: 0,
      images,
      detail: "bad",
    };
    const body = encodeFinding(f);
    expect(body.length).toBeLessThanOrEqual(Limits.JSON_BYTES);
    const back = decodeFinding(body);
    expect(back.images.length).toBeGreaterThan(100);
    expect(back.images).toEqual(images.slice(0, back.images.length));
    expect(back.detail).toBe(`bad (and ${images.length - back.images.length} more images)`);
  });
});
