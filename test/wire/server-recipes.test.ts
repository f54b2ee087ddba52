import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalSite } from "../../src/site/local.js";
import { recipeDigest } from "../../src/store/recipe.js";
import type { Store } from "../../src/store/store.js";
import { ENTRY_BYTES, type Recipe } from "../../src/store/types.js";
import { Exit } from "../../src/util/errors.js";
import { decodeError, encodeHello, message } from "../../src/wire/messages.js";
import { ACCEPTS, Limits, Msg } from "../../src/wire/protocol.js";
import { MessageReader, type Message } from "../../src/wire/reader.js";
import { recipeHeader, recipeParts } from "../../src/wire/recipes.js";
import { serveSite } from "../../src/wire/server.js";
import { tempDir } from "../helpers/data.js";
import { newStore } from "../helpers/sites.js";

/** A client writing raw messages to serveSite and collecting what comes back. */
class Raw {
  readonly toServer = new PassThrough();
  readonly toClient = new PassThrough();
  readonly served: Promise<void>;
  readonly got: Message[] = [];
  private readonly reader = new MessageReader(ACCEPTS.client);

  constructor(site: LocalSite) {
    this.served = serveSite(site, this.toServer, this.toClient, { readOnly: false });
    this.served.catch(() => {});
    this.toClient.on("data", (c: Buffer) => {
      this.reader.push(c);
      for (let m = this.reader.next(); m; m = this.reader.next()) this.got.push(m);
    });
    this.toServer.write(encodeHello());
  }

  send(type: number, req: number, body?: Buffer): void {
    this.toServer.write(Buffer.concat(message(type, req, body)));
  }

  async reply(req: number): Promise<Message> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const m = this.got.find((x) => x.req === req && x.type !== Msg.HELLO);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`no reply to request ${req}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async pong(req: number): Promise<void> {
    this.send(Msg.PING, req, Buffer.from("hi"));
    expect((await this.reply(req)).type).toBe(Msg.PONG);
  }
}

/** A recipe of `n` entries of `length` bytes each, whose digest matches. */
function recipeOf(name: string, n: number, length = 1000): Recipe {
  const entries = Buffer.alloc(n * ENTRY_BYTES);
  for (let i = 0; i < n; i++) {
    entries.writeUInt32LE(i + 1, i * ENTRY_BYTES);
    entries.writeUInt32LE(length, i * ENTRY_BYTES + 32);
  }
  const size = n * length;
  const chunker = { kind: "fastcdc", min: 16384, avg: 65536, max: 262144 } as const;
  const created = "2026-01-01T00:00:00.000Z";
  return { name, size, chunker, digest: recipeDigest(size, entries), created, entries };
}

/** A recipe header saying what the test wants, whatever entries follow. */
function header(name: string, fields: { count: number; size: number }): Buffer {
  const h = JSON.parse(recipeHeader(recipeOf(name, 1)).toString()) as Record<string, unknown>;
  return Buffer.from(JSON.stringify({ ...h, ...fields }));
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

describe("recipe uploads hold bounded memory", () => {
  it("refuses a header declaring more entries than one upload may carry, before any part, and goes on", async () => {
    const c = new Raw(site);
    const limit = Math.floor(Limits.RECIPE_UPLOAD_BYTES / ENTRY_BYTES);
    c.send(Msg.PUT_RECIPE, 1, header("big.raw", { count: limit + 1, size: (limit + 1) * 1000 }));
    const err = await c.reply(1);
    expect(err.type).toBe(Msg.ERROR);
    expect(decodeError(err.body)).toEqual({
      code: Exit.FAILURE,
      message: `recipe 'big.raw' of ${limit + 1} entries is more than this site takes in one upload (limit ${limit})`,
    });
    // The parts still on their way are dropped; the session goes on.
    c.send(Msg.RECIPE_PART, 1, recipeOf("big.raw", 10).entries);
    await c.pong(2);
    c.send(Msg.BYE, 0);
    await c.served;
    expect(store.listRecipes()).toEqual([]);
  });

  it("refuses entries adding up to more than the declared size as soon as they do, before the rest is sent", async () => {
    const c = new Raw(site);
    const big = recipeOf("liar.raw", 3 * Limits.PART_ENTRIES);
    const parts = recipeParts(big);
    expect(parts).toHaveLength(3);
    c.send(Msg.PUT_RECIPE, 1, header("liar.raw", { count: 3 * Limits.PART_ENTRIES, size: 10 }));
    c.send(Msg.RECIPE_PART, 1, parts[0]);
    // Only one part of three has been sent when the refusal comes.
    const err = await c.reply(1);
    expect(decodeError(err.body)).toEqual({
      code: Exit.CORRUPT,
      message: "recipe 'liar.raw': entry lengths add up to more than its size",
    });
    for (const p of parts.slice(1)) c.send(Msg.RECIPE_PART, 1, p);
    await c.pong(2);
    c.send(Msg.BYE, 0);
    await c.served;
    expect(store.listRecipes()).toEqual([]);
  });

  it("ends the session when parts carry more entries than the header declared", async () => {
    const c = new Raw(site);
    c.send(Msg.PUT_RECIPE, 1, header("over.raw", { count: 2, size: 3000 }));
    c.send(Msg.RECIPE_PART, 1, recipeOf("over.raw", 3).entries);
    await expect(c.served).rejects.toThrow(/more entries than its header says/);
    const fatal = await c.reply(0);
    expect(fatal.type).toBe(Msg.ERROR);
  });

  it("takes one upload at a time: a second one while the first is open ends the session", async () => {
    const c = new Raw(site);
    c.send(Msg.PUT_RECIPE, 1, header("one.raw", { count: 2, size: 2000 }));
    c.send(Msg.PUT_RECIPE, 2, header("two.raw", { count: 2, size: 2000 }));
    await expect(c.served).rejects.toThrow(/one at a time/);
    expect(decodeError((await c.reply(0)).body).code).toBe(Exit.REMOTE);
  });

  it("stores uploads made in turn, and refuses one whose entries do not match its digest", async () => {
    const c = new Raw(site);
    const a = recipeOf("a.raw", 5);
    const b = recipeOf("b.raw", 7);
    for (const [req, r] of [[1, a] as const, [2, b] as const]) {
      c.send(Msg.PUT_RECIPE, req, recipeHeader(r));
      for (const p of recipeParts(r)) c.send(Msg.RECIPE_PART, req, p);
      expect((await c.reply(req)).type).toBe(Msg.OK);
    }
    const forged = { ...recipeOf("forged.raw", 3), digest: a.digest };
    c.send(Msg.PUT_RECIPE, 3, recipeHeader(forged));
    for (const p of recipeParts(forged)) c.send(Msg.RECIPE_PART, 3, p);
    expect(decodeError((await c.reply(3)).body).code).toBe(Exit.CORRUPT);
    c.send(Msg.BYE, 0);
    await c.served;
    expect(store.listRecipes().map((s) => s.name)).toEqual(["a.raw", "b.raw"]);
  });
});
