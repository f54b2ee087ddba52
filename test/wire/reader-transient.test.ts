import { describe, expect, it } from "vitest";
import { BufferPool } from "../../src/util/buffer-pool.js";
import { encodeHello, message } from "../../src/wire/messages.js";
import { ACCEPTS, Msg } from "../../src/wire/protocol.js";
import { MessageReader, type Message } from "../../src/wire/reader.js";
import { pseudoRandom } from "../helpers/data.js";

/**
 * Feeds `stream` through ONE reused buffer, as ReusedBufferReads does: once next() has returned
 * undefined, the buffer is scribbled over before the next bytes go in.
 */
function readThroughOneBuffer(reader: MessageReader, stream: Buffer, seed: number): Message[] {
  const shared = Buffer.alloc(256 * 1024);
  const out: Message[] = [];
  let x = seed;
  for (let o = 0; o < stream.length;) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const n = Math.min(x % 5 === 0 ? 1 + (x % 13) : 1 + (x % shared.length), stream.length - o);
    shared.fill(0xee);
    stream.copy(shared, 0, o, o + n);
    o += n;
    reader.push(shared.subarray(0, n));
    for (let m = reader.next(); m; m = reader.next()) out.push(m);
  }
  shared.fill(0xee);
  return out;
}

describe("message reader on transient chunks", () => {
  it("gives every body intact although the source reuses its buffer", () => {
    const bodies = [
      Buffer.from("hello"),
      pseudoRandom("big", 900_000),
      Buffer.alloc(0),
      pseudoRandom("mid", 70_000),
      pseudoRandom("small", 300),
    ];
    const types = [Msg.PING, Msg.PUT_FRAME, Msg.PUT_END, Msg.PUT_FRAME, Msg.HAS];
    const stream = Buffer.concat([
      encodeHello(),
      ...bodies.flatMap((b, i) => message(types[i]!, i + 1, b)),
      ...message(Msg.BYE, 0),
    ]);
    for (const seed of [1, 2, 3, 4, 5]) {
      const pool = new BufferPool(1024 * 1024, 4);
      const reader = new MessageReader(ACCEPTS.server, pool, true);
      const got = readThroughOneBuffer(reader, stream, seed);
      expect(got.map((m) => m.type)).toEqual([Msg.HELLO, ...types, Msg.BYE]);
      expect(got[0]!.body.equals(encodeHello())).toBe(true);
      bodies.forEach((b, i) => expect(got[i + 1]!.body.equals(b)).toBe(true));
      // Frame-sized bodies are assembled in the pool's recycled memory, small ones are not.
      expect(got[2]!.release).toBeTypeOf("function");
      expect(got[1]!.release).toBeUndefined();
      expect(reader.bufferedBytes).toBe(0);
    }
  });

  it("holds a body still arriving in memory of its own, counted as buffered", () => {
    const reader = new MessageReader(ACCEPTS.server, undefined, true);
    const body = pseudoRandom("partial", 10_000);
    const stream = Buffer.concat([encodeHello(), ...message(Msg.HAS, 3, body)]);
    const shared = Buffer.alloc(stream.length);
    stream.copy(shared, 0, 0, stream.length - 1);
    reader.push(shared.subarray(0, stream.length - 1));
    expect(reader.next()?.type).toBe(Msg.HELLO);
    expect(reader.next()).toBeUndefined();
    expect(reader.bufferedBytes).toBe(body.length - 1);
    shared.fill(0xee);
    shared[0] = stream[stream.length - 1]!;
    reader.push(shared.subarray(0, 1));
    expect(reader.next()!.body.equals(body)).toBe(true);
  });
});
