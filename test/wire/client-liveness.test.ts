import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { Exit } from "../../src/util/errors.js";
import { ProtocolClient } from "../../src/wire/client.js";
import { ENTRY_BYTES, type Recipe } from "../../src/store/types.js";
import { encodeBitmap, encodeHello } from "../../src/wire/messages.js";
import { Msg } from "../../src/wire/protocol.js";
import type { Message } from "../../src/wire/reader.js";
import { ScriptedServer } from "./scripted-server.js";

const TIMEOUT = 0.6;
const elapsed = (t0: number) => (performance.now() - t0) / 1000;
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("ProtocolClient liveness", () => {
  it("fails every pending call when the site stops answering, pings unanswered", async () => {
    const seen: number[] = [];
    const s = new ScriptedServer((m) => seen.push(m.type), "lyon", { timeout: TIMEOUT });
    await s.client.ready();
    const t0 = performance.now();
    const calls = [s.client.has([Buffer.alloc(32)]), s.client.listRecipes()];
    for (const c of calls)
      await expect(c).rejects.toMatchObject({
        exitCode: Exit.REMOTE,
        message: "site lyon stopped answering (no reply in 0.6 s)",
      });
    expect(elapsed(t0)).toBeGreaterThanOrEqual(TIMEOUT * 0.9);
    expect(elapsed(t0)).toBeLessThan(TIMEOUT + 5);
    // It asked whether the site was there before giving up.
    expect(seen).toContain(Msg.PING);
    // The session is over: later calls fail at once with the same words.
    await expect(s.client.ping()).rejects.toThrow(/stopped answering/);
  });

  it("fails a session whose HELLO never comes", async () => {
    const mute = new ProtocolClient("nantes", new PassThrough(), new PassThrough(), { timeout: TIMEOUT });
    await expect(mute.ready()).rejects.toThrow("site nantes stopped answering (no reply in 0.6 s)");
  });

  it("frees a writer held up by a site that stopped reading", async () => {
    const toClient = new PassThrough();
    toClient.write(encodeHello());
    // Nothing reads what the client sends: past its high-water mark, it waits for room forever.
    const client = new ProtocolClient("lyon", toClient, new PassThrough(), { timeout: TIMEOUT });
    await client.ready();
    const entries = Buffer.alloc(ENTRY_BYTES * 300_000);
    const recipe: Recipe = {
      name: "big.raw",
      size: 0,
      chunker: { kind: "fixed", min: 4096, avg: 4096, max: 4096 },
      digest: "00",
      created: "2026-02-03T04:05:06.000Z",
      entries,
    };
    const t0 = performance.now();
    await expect(client.putRecipe(recipe)).rejects.toThrow("site lyon stopped answering");
    expect(elapsed(t0)).toBeLessThan(TIMEOUT + 5);
  });

  it("keeps a slow site that answers its pings", async () => {
    const pongs: number[] = [];
    const s = new ScriptedServer(
      (m: Message, server) => {
        if (m.type === Msg.PING) {
          pongs.push(m.req);
          server.reply(Msg.PONG, m.req, m.body);
        }
        // The answer comes after three floors; the pings show the site is there meanwhile.
        if (m.type === Msg.HAS)
          setTimeout(() => server.reply(Msg.HAS_REPLY, m.req, encodeBitmap([true])), TIMEOUT * 3000);
      },
      "lyon",
      { timeout: TIMEOUT },
    );
    expect(await s.client.has([Buffer.alloc(32)])).toEqual([true]);
    expect(pongs.length).toBeGreaterThanOrEqual(2);
  });

  it("does not count idle time between requests against the site", async () => {
    const s = new ScriptedServer(
      (m: Message, server) => {
        if (m.type === Msg.PING) server.reply(Msg.PONG, m.req, m.body);
      },
      "lyon",
      { timeout: TIMEOUT },
    );
    await s.client.ping();
    await delay(TIMEOUT * 2500);
    await s.client.ping();
  });
});
