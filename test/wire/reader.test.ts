import { describe, expect, it } from "vitest";
import { ProtocolError } from "../../src/wire/errors.js";
import { decodeFrame } from "../../src/wire/frames.js";
import { decodeHello, encodeHello, message } from "../../src/wire/messages.js";
import { ACCEPTS, HEADER_BYTES, HELLO_BYTES, MAX_BODY, Msg } from "../../src/wire/protocol.js";
import { MessageReader } from "../../src/wire/reader.js";
import { pseudoRandom } from "../helpers/data.js";

function header(type: number, req: number, length: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.writeUInt32LE(length, 0);
  h.writeUInt8(type, 4);
  h.writeUInt32LE(req, 5);
  return h;
}

function readerPastHello(side: "server" | "client" = "server"): MessageReader {
  const r = new MessageReader(ACCEPTS[side]);
  r.push(encodeHello());
  expect(r.next()?.type).toBe(Msg.HELLO);
  return r;
}

describe("message reader", () => {
  it("gives a body lying in one chunk as a view of it, without copying", () => {
    const r = readerPastHello();
    const chunk = Buffer.concat([...message(Msg.PING, 5, Buffer.from("hello")), ...message(Msg.BYE, 0)]);
    r.push(chunk);
    const m = r.next()!;
    expect(m.body.toString()).toBe("hello");
    expect(m.body.buffer).toBe(chunk.buffer);
    expect(r.next()?.type).toBe(Msg.BYE);
    expect(r.next()).toBeUndefined();
  });

  it("waits for a body split over many chunks and reassembles it", () => {
    const r = readerPastHello();
    const body = pseudoRandom("split", 100_000);
    const bytes = Buffer.concat(message(Msg.HAS, 9, body.subarray(0, 32 * 3000)));
    for (let o = 0; o < bytes.length; o += 777) {
      expect(r.next()).toBeUndefined();
      r.push(bytes.subarray(o, o + 777));
    }
    const m = r.next()!;
    expect([m.type, m.req]).toEqual([Msg.HAS, 9]);
    expect(m.body.equals(body.subarray(0, 32 * 3000))).toBe(true);
  });

  it("refuses an oversized length as soon as the header arrives, before buffering the body", () => {
    const r = readerPastHello();
    r.push(header(Msg.PUT_FRAME, 1, MAX_BODY[Msg.PUT_FRAME]! + 1));
    expect(() => r.next()).toThrow(ProtocolError);
    const r2 = readerPastHello();
    r2.push(header(Msg.PING, 1, 0xffff_ffff));
    expect(() => r2.next()).toThrow(/PING of 4294967295 bytes exceeds the limit/);
  });

  it("refuses unknown types and types of the other direction", () => {
    for (const type of [0x00, 0x30, 0xff, Msg.HAS_REPLY, Msg.FRAME]) {
      const r = readerPastHello("server");
      r.push(header(type, 1, 0));
      expect(() => r.next()).toThrow(/unexpected message type/);
    }
    const c = readerPastHello("client");
    c.push(header(Msg.PUT_FRAME, 1, 0));
    expect(() => c.next()).toThrow(/unexpected message type PUT_FRAME/);
  });

  it("never holds more than the largest allowed message on random input", () => {
    const maxBody = Math.max(...Object.values(MAX_BODY));
    let refused = 0;
    for (let seed = 0; seed < 300; seed++) {
      const r = new MessageReader(ACCEPTS.server);
      const noise = pseudoRandom(`noise-${seed}`, 1 + ((seed * 7919) % 50_000));
      const input = seed % 2 === 0 ? Buffer.concat([encodeHello(), noise]) : noise;
      try {
        for (let o = 0; o < input.length; o += 4096) {
          r.push(input.subarray(o, o + 4096));
          for (let m = r.next(); m; m = r.next()) {
            if (m.type === Msg.HELLO) decodeHello(m.body, "client");
            if (m.type === Msg.PUT_FRAME) decodeFrame(m.body);
          }
          expect(r.bufferedBytes).toBeLessThanOrEqual(HEADER_BYTES + maxBody + 4096);
        }
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
        refused++;
      }
    }
    // Random bytes are refused right away: bad magic, or a header whose type or length is out of bounds.
    expect(refused).toBeGreaterThan(280);
  });

  it("leaves a truncated message pending rather than inventing one", () => {
    const r = readerPastHello();
    const bytes = Buffer.concat(message(Msg.PING, 3, Buffer.from("abcdef")));
    r.push(bytes.subarray(0, bytes.length - 1));
    expect(r.next()).toBeUndefined();
    expect(r.bufferedBytes).toBe(6 - 1);
    const hello = new MessageReader(ACCEPTS.server);
    hello.push(encodeHello().subarray(0, HELLO_BYTES - 1));
    expect(hello.next()).toBeUndefined();
  });
});
