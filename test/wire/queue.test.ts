import { describe, expect, it } from "vitest";
import { ByteQueue } from "../../src/wire/queue.js";

describe("byte queue", () => {
  it("makes the producer wait for room and reports each item taken", async () => {
    const taken: number[] = [];
    const q = new ByteQueue<number>((v) => taken.push(v));
    for (let i = 0; i < 4; i++) q.push(i, 10);
    let roomy = false;
    const room = q.room(15).then(() => (roomy = true));
    const it = q[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ value: 0, done: false });
    expect(await it.next()).toEqual({ value: 1, done: false });
    await Promise.resolve();
    expect(roomy).toBe(false);
    expect(q.bytes).toBe(20);
    await it.next();
    await room;
    expect(roomy).toBe(true);
    expect(taken).toEqual([0, 1, 2]);
  });

  it("lets a consumer wait for items, then finishes after end()", async () => {
    const q = new ByteQueue<string>();
    const seen: string[] = [];
    const consumer = (async () => {
      for await (const v of q) seen.push(v);
    })();
    q.push("a", 1);
    await new Promise((r) => setTimeout(r, 5));
    q.push("b", 1);
    q.end();
    q.push("ignored", 1);
    await consumer;
    expect(seen).toEqual(["a", "b"]);
  });

  it("fail() drops queued items, wakes the producer and throws in the consumer", async () => {
    const q = new ByteQueue<number>();
    q.push(1, 100);
    const room = q.room(0);
    q.fail(new Error("boom"));
    await room;
    expect(q.bytes).toBe(0);
    await expect(q.next()).rejects.toThrow("boom");
  });
});
