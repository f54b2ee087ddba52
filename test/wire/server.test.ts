import { blake3 } from "@napi-rs/blake-hash";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalSite } from "../../src/site/local.js";
import { MAX_GETS, serveSite } from "../../src/wire/server.js";
import type { Store } from "../../src/store/store.js";
import { ENTRY_BYTES, type Frame } from "../../src/store/types.js";
import { Exit, NitroError } from "../../src/util/errors.js";
import { frameMessage } from "../../src/wire/frames.js";
import {
  decodeError,
  decodeHello,
  decodePutDone,
  encodeGet,
  encodeHello,
  encodeIds,
  encodeU32,
  message,
} from "../../src/wire/messages.js";
import { ACCEPTS, FLAG_READ_ONLY, HEADER_BYTES, Msg, PROTOCOL_VERSION } from "../../src/wire/protocol.js";
import { MessageReader, type Message } from "../../src/wire/reader.js";
import { recipeHeader, recipeParts } from "../../src/wire/recipes.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";
import { newStore } from "../helpers/sites.js";
import { writeRecorder } from "../helpers/write-recorder.js";

/** A client speaking raw protocol bytes to serveSite over a pair of in-process streams. */
class RawClient {
  readonly toServer = new PassThrough();
  readonly toClient = new PassThrough();
  readonly served: Promise<void>;
  readonly got: Message[] = [];
  ended = false;
  private readonly reader = new MessageReader(ACCEPTS.client);
  private notify: () => void = () => {};

  constructor(
    site: LocalSite,
    readOnly = false,
    hello: Buffer | null = encodeHello(),
    beforeWrites?: () => void,
  ) {
    this.served = serveSite(site, this.toServer, this.toClient, { readOnly, beforeWrites });
    this.served.catch(() => {});
    this.toClient.on("data", (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let m = this.reader.next(); m; m = this.reader.next()) this.got.push(m);
      this.notify();
    });
    this.toClient.on("end", () => {
      this.ended = true;
      this.notify();
    });
    if (hello) this.toServer.write(hello);
  }

  send(pieces: Buffer[]): void {
    this.toServer.write(Buffer.concat(pieces));
  }

  /** Waits for a message matching `pred` (or end of stream), failing after a while. */
  async waitFor(pred: (m: Message) => boolean): Promise<Message> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const m = this.got.find(pred);
      if (m) return m;
      if (this.ended) throw new Error("server ended the stream");
      if (Date.now() > deadline) throw new Error("timed out");
      await new Promise<void>((r) => {
        this.notify = r;
        setTimeout(r, 50);
      });
    }
  }

  reply = (req: number) =>
    this.waitFor((m) => m.req === req && m.type !== Msg.PUT_ACK && m.type !== Msg.FRAME);

  async ended_(): Promise<void> {
    await this.waitFor(() => false).catch(() => {});
  }
}

/** A frame of `n` random chunks, stored uncompressed or zstd as the store's codec decides. */
function frameOf(store: Store, seed: string, n: number, size = 20_000): Frame {
  const datas = Array.from({ length: n }, (_, i) => pseudoRandom(`${seed}-${i}`, size));
  const { codec, payload } = store.codec.encode(Buffer.concat(datas));
  return { codec, chunks: datas.map((d) => ({ id: blake3(d), length: d.length })), payload };
}

let tmp: ReturnType<typeof tempDir>;
let store: Store;
let site: LocalSite;

beforeEach(() => {
  tmp = tempDir();
  store = newStore(tmp.dir, "lyon");
  site = new LocalSite("lyon", store);
});

afterEach(async () => {
  await store.close();
  tmp.cleanup();
});

describe("serveSite", () => {
  it("gets ready for writes at a push's first HAS, not for a session that only reads", async () => {
    const ids = encodeIds([blake3(Buffer.from("x"))]);
    for (const readOnly of [false, true]) {
      let prepared = 0;
      const c = new RawClient(site, readOnly, encodeHello(), () => prepared++);
      c.send(message(Msg.HAS_SIZES, 1, ids));
      c.send(message(Msg.GET_RECIPE, 2, Buffer.from("img")));
      c.send(message(Msg.GET_FRAMES, 3, encodeGet(1 << 20, [])));
      await c.reply(1);
      await c.reply(2);
      await c.reply(3);
      expect(prepared).toBe(0);
      c.send(message(Msg.HAS, 4, ids));
      c.send(message(Msg.HAS, 5, ids));
      await c.reply(4);
      await c.reply(5);
      expect(prepared).toBe(readOnly ? 0 : 1);
    }
  });

  it("sends its greeting in one write with the answers to the questions that came with HELLO", async () => {
    const { out: toClient, writes } = writeRecorder();
    const toServer = new PassThrough();
    const served = serveSite(site, toServer, toClient, { readOnly: false });
    // As a pull writes them, before the far server has started: waiting in the pipe, read in a
    // later turn of the event loop than the one that wrote the greeting.
    setImmediate(() =>
      toServer.write(
        Buffer.concat([
          encodeHello(),
          ...message(Msg.GET_RECIPE, 1, Buffer.from("img")),
          ...message(Msg.HAS_SIZES, 2, encodeIds([blake3(Buffer.from("x"))])),
        ]),
      ),
    );
    while (writes.length === 0) await new Promise((r) => setTimeout(r, 5));
    const reader = new MessageReader(ACCEPTS.client);
    reader.push(writes[0]!);
    const first: Message[] = [];
    for (let m = reader.next(); m; m = reader.next()) first.push(m);
    expect(first.map((m) => [m.type, m.req])).toEqual([
      [Msg.HELLO, 0],
      [Msg.OK, 1],
      [Msg.HAS_SIZES_REPLY, 2],
    ]);
    toServer.end();
    await served;
  });

  it("does not hold its greeting long for questions that do not come", async () => {
    const c = new RawClient(site, false, null);
    const t0 = Date.now();
    const hello = await c.waitFor((m) => m.type === Msg.HELLO);
    expect(hello.req).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("greets with its version and read-only flag", async () => {
    for (const readOnly of [false, true]) {
      const c = new RawClient(site, readOnly);
      c.send(message(Msg.PING, 1, Buffer.from("x")));
      expect((await c.reply(1)).body.toString()).toBe("x");
      expect(c.got[0]!.type).toBe(Msg.HELLO);
      expect(decodeHello(c.got[0]!.body, "server")).toEqual({
        version: PROTOCOL_VERSION,
        flags: readOnly ? FLAG_READ_ONLY : 0,
      });
      c.send(message(Msg.BYE, 0));
      await c.served;
      await c.ended_();
      expect(c.got.at(-1)!.type).toBe(Msg.BYE);
    }
  });

  it("refuses a frame whose bytes do not hash to its chunk ids, stores nothing of it, and goes on", async () => {
    const c = new RawClient(site);
    const good = frameOf(store, "good", 3);
    const bad = frameOf(store, "bad", 3, 5000);
    const forged: Frame = {
      ...bad,
      chunks: [bad.chunks[0]!, { ...bad.chunks[1]!, id: blake3(Buffer.from("forged")) }, bad.chunks[2]!],
    };
    c.send(frameMessage(Msg.PUT_FRAME, 1, forged));
    c.send(message(Msg.PUT_END, 1));
    const err = await c.reply(1);
    expect(err.type).toBe(Msg.ERROR);
    expect(decodeError(err.body).code).toBe(Exit.CORRUPT);
    expect(decodeError(err.body).message).toMatch(/do not match/);
    // The session goes on: a valid upload on another request is stored.
    c.send(frameMessage(Msg.PUT_FRAME, 2, good));
    c.send(message(Msg.PUT_END, 2));
    const done = await c.reply(2);
    expect(done.type).toBe(Msg.PUT_DONE);
    expect(decodePutDone(done.body)).toMatchObject({ chunks: 3, skipped: 0, rawBytes: 60_000 });
    expect(store.has([...bad.chunks, ...forged.chunks].map((x) => x.id))).toEqual(Array(6).fill(false));
    expect(store.has(good.chunks.map((x) => x.id))).toEqual([true, true, true]);
    c.send(message(Msg.BYE, 0));
    await c.served;
    await c.waitFor((m) => m.type === Msg.BYE);
  });

  it("read-only refuses PUT_FRAME and PUT_RECIPE with a FAILURE error, and still serves reads", async () => {
    const c = new RawClient(site, true);
    const f = frameOf(store, "ro", 2);
    c.send(frameMessage(Msg.PUT_FRAME, 1, f));
    c.send(frameMessage(Msg.PUT_FRAME, 1, frameOf(store, "ro2", 2)));
    c.send(message(Msg.PUT_END, 1));
    const entries = Buffer.alloc(ENTRY_BYTES);
    f.chunks[0]!.id.copy(entries);
    entries.writeUInt32LE(20_000, 32);
    const recipe = {
      name: "img",
      size: 20_000,
      chunker: store.config.chunker,
      digest: "00",
      created: new Date().toISOString(),
      entries,
    };
    c.send(message(Msg.PUT_RECIPE, 2, recipeHeader(recipe)));
    for (const p of recipeParts(recipe)) c.send(message(Msg.RECIPE_PART, 2, p));
    c.send(message(Msg.HAS, 3, encodeIds(f.chunks.map((x) => x.id))));
    for (const req of [1, 2]) {
      const e = await c.reply(req);
      expect(e.type).toBe(Msg.ERROR);
      expect(decodeError(e.body)).toMatchObject({
        code: Exit.FAILURE,
        message: expect.stringMatching(/read-only/),
      });
    }
    expect((await c.reply(3)).type).toBe(Msg.HAS_REPLY);
    c.send(message(Msg.BYE, 0));
    await c.served;
    // One refusal per request, the later frames of the refused upload are dropped quietly.
    expect(c.got.filter((m) => m.type === Msg.ERROR)).toHaveLength(2);
    expect(store.has(f.chunks.map((x) => x.id))).toEqual([false, false]);
    expect(store.listRecipes()).toEqual([]);
  });

  it("answers a request's failure on that request only (missing chunk, bad image name)", async () => {
    const c = new RawClient(site);
    c.send(message(Msg.GET_FRAMES, 4, encodeGet(1 << 20, [blake3(Buffer.from("nope"))])));
    c.send(message(Msg.GET_RECIPE, 5, Buffer.from("../../etc/passwd")));
    c.send(message(Msg.GET_RECIPE, 6, Buffer.from("absent")));
    expect(decodeError((await c.reply(4)).body).code).toBe(Exit.NOT_FOUND);
    expect(decodeError((await c.reply(5)).body).code).toBe(Exit.USAGE);
    expect((await c.reply(6)).type).toBe(Msg.OK);
    c.send(message(Msg.BYE, 0));
    await c.served;
  });

  it("sends no more than the client's credit, and resumes on CREDIT", async () => {
    const frames = [frameOf(store, "a", 4), frameOf(store, "b", 4), frameOf(store, "c", 4)];
    const w = await site.putFrames(
      (async function* () {
        yield* frames;
      })(),
    );
    expect(w.chunks).toBe(12);
    const c = new RawClient(site);
    c.send(
      message(
        Msg.GET_FRAMES,
        7,
        encodeGet(
          1,
          frames.flatMap((f) => f.chunks.map((x) => x.id)),
        ),
      ),
    );
    const first = await c.waitFor((m) => m.type === Msg.FRAME);
    const frameCount = () => c.got.filter((m) => m.type === Msg.FRAME).length;
    await new Promise((r) => setTimeout(r, 100));
    expect(frameCount()).toBe(1);
    // Credit 1 was overdrawn by the first frame: giving back one byte less than it leaves none.
    c.send(message(Msg.CREDIT, 7, encodeU32(first.body.length - 1)));
    await new Promise((r) => setTimeout(r, 100));
    expect(frameCount()).toBe(1);
    c.send(message(Msg.CREDIT, 7, encodeU32(1)));
    await c.waitFor(() => frameCount() === 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(frameCount()).toBe(2);
    c.send(message(Msg.CREDIT, 7, encodeU32(100 << 20)));
    await c.waitFor((m) => m.req === 7 && m.type === Msg.END);
    expect(c.got.filter((m) => m.type === Msg.FRAME)).toHaveLength(3);
    c.send(message(Msg.BYE, 0));
    await c.served;
  });

  it("ends a session that opens more concurrent downloads than allowed", async () => {
    const frames = [frameOf(store, "m1", 2), frameOf(store, "m2", 2)];
    await site.putFrames(
      (async function* () {
        yield* frames;
      })(),
    );
    const c = new RawClient(site);
    // Credit for one frame each: every download stays open, waiting for CREDIT.
    for (let req = 1; req <= MAX_GETS + 1; req++)
      c.send(
        message(
          Msg.GET_FRAMES,
          req,
          encodeGet(
            1,
            frames.flatMap((f) => f.chunks.map((x) => x.id)),
          ),
        ),
      );
    await expect(c.served).rejects.toThrow(`more than ${MAX_GETS} concurrent downloads`);
    const e = await c.waitFor((m) => m.type === Msg.ERROR && m.req === 0);
    expect(decodeError(e.body).code).toBe(Exit.REMOTE);
  });

  it("ends the session with an ERROR on garbage, and does not crash", async () => {
    for (let seed = 0; seed < 20; seed++) {
      const c = new RawClient(site);
      c.toServer.end(pseudoRandom(`garbage-${seed}`, 100 + seed * 1000));
      await expect(c.served).rejects.toBeInstanceOf(NitroError);
      const e = await c.waitFor((m) => m.type === Msg.ERROR && m.req === 0);
      expect(decodeError(e.body).code).toBe(Exit.REMOTE);
      await c.ended_();
      expect(c.ended).toBe(true);
    }
  });

  it("refuses an oversized message from its header, without waiting for its body", async () => {
    const c = new RawClient(site);
    const h = Buffer.alloc(HEADER_BYTES);
    h.writeUInt32LE(1 << 30, 0);
    h.writeUInt8(Msg.PUT_FRAME, 4);
    h.writeUInt32LE(1, 5);
    c.send([h, Buffer.alloc(1000)]);
    await expect(c.served).rejects.toThrow(/exceeds the limit/);
    const e = await c.waitFor((m) => m.type === Msg.ERROR);
    expect(decodeError(e.body).message).toMatch(/PUT_FRAME of 1073741824 bytes/);
  });

  it("refuses a client that is not nitro, or of another protocol version", async () => {
    const stranger = new RawClient(site, false, Buffer.from("GET / HTTP/1.1\r\n\r\n"));
    await expect(stranger.served).rejects.toThrow(/does not speak the nitro protocol/);
    const future = new RawClient(site, false, encodeHello(0, 99));
    await expect(future.served).rejects.toThrow(
      new RegExp(`version mismatch: the client speaks version 99, this server ${PROTOCOL_VERSION}`),
    );
    const e = await future.waitFor((m) => m.type === Msg.ERROR);
    expect(decodeError(e.body).message).toMatch(/install the same nitro release/);
  });

  it("on a cut connection, commits the frames fully received and drops the truncated one", async () => {
    const c = new RawClient(site);
    const whole = frameOf(store, "whole", 3);
    const cut = Buffer.concat(frameMessage(Msg.PUT_FRAME, 1, frameOf(store, "cut", 3)));
    c.send(frameMessage(Msg.PUT_FRAME, 1, whole));
    c.toServer.end(cut.subarray(0, cut.length - 100));
    await c.served;
    expect(store.has(whole.chunks.map((x) => x.id))).toEqual([true, true, true]);
    expect(store.stats().chunks).toBe(3);
  });

  it("keeps working when the client stops reading and then vanishes", async () => {
    const frames = Array.from({ length: 16 }, (_, i) => frameOf(store, `big-${i}`, 8, 200_000));
    await site.putFrames(
      (async function* () {
        yield* frames;
      })(),
    );
    const toServer = new PassThrough();
    const toClient = new PassThrough({ highWaterMark: 1024 });
    const served = serveSite(site, toServer, toClient, { readOnly: false });
    toServer.write(encodeHello());
    toServer.write(
      Buffer.concat(
        message(
          Msg.GET_FRAMES,
          1,
          encodeGet(
            1 << 30,
            frames.flatMap((f) => f.chunks.map((x) => x.id)),
          ),
        ),
      ),
    );
    await new Promise((r) => setTimeout(r, 100));
    // Backpressure: the server waits for the reader instead of buffering all 25 MB of frames.
    expect(toClient.readableLength + toClient.writableLength).toBeLessThan(8 << 20);
    toClient.destroy();
    toServer.end();
    await served;
  });
});
