import { describe, expect, it } from "vitest";
import { Exit, NitroError } from "../../src/util/errors.js";
import { encodeError } from "../../src/wire/messages.js";
import { Msg } from "../../src/wire/protocol.js";
import { ScriptedServer } from "./scripted-server.js";

const ID = Buffer.alloc(32, 7);

/** The error a has() request meets when the scripted site answers it with ERROR(code, text). */
async function hasFailure(code: number, text: string): Promise<NitroError> {
  const s = new ScriptedServer((m, server) => {
    if (m.type === Msg.HAS) server.reply(Msg.ERROR, m.req, encodeError(code as typeof Exit.FAILURE, text));
  });
  await s.client.ready();
  const err: unknown = await s.client.has([ID]).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(NitroError);
  return err as NitroError;
}

describe("ProtocolClient, a site's ERROR", () => {
  it("shows escapes and a forged line as text, labelled with the site, on one line", async () => {
    const text = "\x1b[2J\x1b]0;owned\x07gone\nnitro: push finished, 0 errors\r\u202eevil";
    const err = await hasFailure(Exit.NOT_FOUND, text);
    expect(err.message).toBe(
      "lyon: \\x1b[2J\\x1b]0;owned\\x07gone\\nnitro: push finished, 0 errors\\r\\u202eevil",
    );
    expect([...err.message].every((c) => c >= " " && c !== "\x7f" && c !== "\u202e")).toBe(true);
    expect(err.exitCode).toBe(Exit.NOT_FOUND);
  });

  it("turns the site's internal error (70) into REMOTE", async () => {
    const err = await hasFailure(Exit.INTERNAL, "internal error: undefined is not a function");
    expect(err.exitCode).toBe(Exit.REMOTE);
    expect(err.message).toBe("lyon: internal error: undefined is not a function");
  });

  it("passes the codes that mean the same on both sides, and only those", async () => {
    const passed = [Exit.NOT_FOUND, Exit.EXISTS, Exit.CORRUPT, Exit.LOCKED, Exit.USAGE, Exit.NO_SPACE];
    for (const code of passed) expect((await hasFailure(code, "x")).exitCode).toBe(code);
    for (const code of [Exit.OK, Exit.HOST_KEY, Exit.INTERNAL, 42, 255])
      expect((await hasFailure(code, "x")).exitCode).toBe(Exit.REMOTE);
  });

  it("quotes the fatal ERROR that ends the session too, and fails what was pending", async () => {
    const s = new ScriptedServer((m, server) => {
      if (m.type === Msg.HAS)
        server.reply(Msg.ERROR, 0, encodeError(Exit.INTERNAL, "bad\n\x1b[31mnitro: fake"));
    });
    await s.client.ready();
    const err = (await s.client.has([ID]).catch((e: unknown) => e)) as NitroError;
    expect(err.exitCode).toBe(Exit.REMOTE);
    expect(err.message).toBe("lyon: bad\\n\\x1b[31mnitro: fake");
    await expect(s.client.ping()).rejects.toThrow(err.message);
  });

  it("fails one request on its ERROR while the session goes on", async () => {
    const s = new ScriptedServer((m, server) => {
      if (m.type === Msg.HAS) server.reply(Msg.ERROR, m.req, encodeError(Exit.CORRUPT, "no"));
      if (m.type === Msg.PING) server.reply(Msg.PONG, m.req, m.body);
    });
    await expect(s.client.has([ID])).rejects.toThrow("lyon: no");
    await expect(s.client.ping()).resolves.toBeUndefined();
  });
});
