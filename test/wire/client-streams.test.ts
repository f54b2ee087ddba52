import { describe, expect, it } from "vitest";
import { Exit } from "../../src/util/errors.js";
import { Msg } from "../../src/wire/protocol.js";
import type { Message } from "../../src/wire/reader.js";
import { ScriptedServer } from "./scripted-server.js";

describe("ProtocolClient streams", () => {
  it("feeds every item to the caller up to the END, requests interleaved", async () => {
    const s = new ScriptedServer((m, server) => {
      if (m.type !== Msg.PROBE) return;
      // Both requests' replies arrive mixed; each goes to its own request.
      if (m.req === 2) {
        server.reply(Msg.PROBE_DATA, 1, Buffer.alloc(3));
        server.reply(Msg.PROBE_DATA, 2, Buffer.alloc(5));
        server.reply(Msg.END, 2);
        server.reply(Msg.PROBE_DATA, 1, Buffer.alloc(4));
        server.reply(Msg.END, 1);
      }
    });
    await s.client.ready();
    const first: number[] = [];
    const second: number[] = [];
    await Promise.all([
      s.client.probe(10, (b) => first.push(b.length)),
      s.client.probe(10, (b) => second.push(b.length)),
    ]);
    expect(first).toEqual([3, 4]);
    expect(second).toEqual([5]);
  });

  it("ends the session when a site streams more than was asked", async () => {
    const s = new ScriptedServer((m, server) => {
      if (m.type === Msg.PROBE) server.reply(Msg.PROBE_DATA, m.req, Buffer.alloc(11));
    });
    await expect(s.client.probe(10, () => {})).rejects.toMatchObject({
      exitCode: Exit.REMOTE,
      message: "lyon: protocol error: PROBE sent more data than asked",
    });
    await expect(s.client.ping()).rejects.toThrow(/PROBE sent more/);
  });

  it("on cancel, tells the site and drops what it still sends up to the END", async () => {
    const seen: Message[] = [];
    const s = new ScriptedServer((m, server) => {
      seen.push(m);
      if (m.type === Msg.GET_FRAMES) server.reply(Msg.PROBE_DATA, m.req, Buffer.alloc(1));
      if (m.type === Msg.CANCEL) {
        // Not a FRAME: were it still routed to the stream, it would break the session.
        server.reply(Msg.PONG, m.req);
        server.reply(Msg.END, m.req);
      }
      if (m.type === Msg.PING) server.reply(Msg.PONG, m.req, m.body);
    });
    await s.client.ready();
    const get = s.client.getFrames(1024, [Buffer.alloc(32)], () => {
      throw new Error("no frame was sent");
    });
    s.client.cancel(get, Msg.CANCEL);
    await get.done;
    await s.client.ping();
    expect(seen.map((m) => m.type)).toEqual([Msg.GET_FRAMES, Msg.CANCEL, Msg.PING]);
  });
});
