import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { Outbox } from "../../src/wire/channel.js";

/** A stream that records each write it is handed (several corked writes arrive as one writev). */
function recorder() {
  const writes: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk);
      cb();
    },
    writev(chunks, cb) {
      writes.push(Buffer.concat(chunks.map((c) => c.chunk as Buffer)));
      cb();
    },
  });
  return { out, writes };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe("Outbox", () => {
  it("writes each message on its own when not held", async () => {
    const { out, writes } = recorder();
    const box = new Outbox(out);
    box.send([Buffer.from("a"), Buffer.from("b")]);
    await tick();
    box.send([Buffer.from("c")]);
    await tick();
    expect(writes.map(String)).toEqual(["ab", "c"]);
  });

  it("while held, keeps what is sent, and writes it in one go on release", async () => {
    const { out, writes } = recorder();
    const box = new Outbox(out);
    box.hold();
    box.send([Buffer.from("hello")]);
    await tick();
    box.send([Buffer.from("-recipe")]);
    await tick();
    expect(writes).toEqual([]);
    box.release();
    await tick();
    expect(writes.map(String)).toEqual(["hello-recipe"]);
    box.send([Buffer.from("next")]);
    await tick();
    expect(writes.map(String)).toEqual(["hello-recipe", "next"]);
  });
});
