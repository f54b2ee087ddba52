import { describe, expect, it } from "vitest";
import { Outbox } from "../../src/wire/channel.js";
import { writeRecorder } from "../helpers/write-recorder.js";

const tick = () => new Promise<void>((r) => setImmediate(r));

describe("Outbox", () => {
  it("writes each message on its own when not held", async () => {
    const { out, writes } = writeRecorder();
    const box = new Outbox(out);
    box.send([Buffer.from("a"), Buffer.from("b")]);
    await tick();
    box.send([Buffer.from("c")]);
    await tick();
    expect(writes.map(String)).toEqual(["ab", "c"]);
  });

  it("while held, keeps what is sent, and writes it in one go on release", async () => {
    const { out, writes } = writeRecorder();
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
