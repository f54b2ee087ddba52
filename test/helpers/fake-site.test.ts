import { blake3 } from "@napi-rs/blake-hash";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openSite } from "../../src/site/open.js";
import type { SshChannel } from "../../src/site/ssh/connect.js";
import { recipeDigest } from "../../src/store/recipe.js";
import { ENTRY_BYTES, type Recipe } from "../../src/store/types.js";
import { Limits, Msg, PROTOCOL_VERSION } from "../../src/wire/protocol.js";
import type { Message } from "../../src/wire/reader.js";
import { tempDir } from "./data.js";
import { requireBuild } from "./e2e.js";
import { EVIL_TEXT, lyingSiteConfig, openLyingChannel, RawWireClient, type Lie } from "./fake-site.js";
import { newStore } from "./sites.js";
import { startSshd, type SshdInstance } from "./sshd.js";

requireBuild();
const t = tempDir("nitro-fake-site-");
const repo = join(t.dir, "paris");
let sshd: SshdInstance;
let channel: SshChannel | undefined;

function recipe(name: string, n: number): Recipe {
  const entries = Buffer.alloc(n * ENTRY_BYTES);
  for (let i = 0; i < n; i++) {
    blake3(Buffer.from(`${name} ${i}`)).copy(entries, i * ENTRY_BYTES);
    entries.writeUInt32LE(1000 + i, i * ENTRY_BYTES + 32);
  }
  const size = (n * (2000 + n - 1)) / 2;
  const chunker = { kind: "fixed" as const, min: 4096, avg: 4096, max: 4096 };
  return {
    name,
    size,
    chunker,
    digest: recipeDigest(size, entries),
    created: "2026-02-03T04:05:06.000Z",
    entries,
  };
}

const one = recipe("one.raw", 3);
const two = recipe("two.raw", 5);

beforeAll(async () => {
  sshd = await startSshd();
  const store = newStore(t.dir, "paris");
  store.putRecipe(one);
  store.putRecipe(two);
  await store.close();
});

afterEach(async () => {
  await channel?.close();
  channel = undefined;
});

afterAll(async () => {
  await sshd?.destroy();
  t.cleanup();
});

/** A raw client on the lying site, past the HELLO exchange. */
async function connect(lie: Lie): Promise<RawWireClient> {
  channel = await openLyingChannel(sshd, repo, lie);
  channel.stderr.resume();
  const client = new RawWireClient(channel.stream);
  const hello = await client.hello();
  expect(hello.subarray(0, 8).toString("latin1")).toBe("NITROWP\0");
  expect(hello.readUInt16LE(8)).toBe(PROTOCOL_VERSION);
  return client;
}

async function reply(client: RawWireClient): Promise<Message> {
  const m = await client.next();
  if (m === "end" || m === "timeout") throw new Error(`expected a message, got ${m}`);
  return m;
}

/** The header JSON of the RECIPE that answers GET_RECIPE `name`. */
async function recipeHeader(client: RawWireClient, name: string): Promise<Record<string, unknown>> {
  client.send(Msg.GET_RECIPE, 7, Buffer.from(name));
  const m = await reply(client);
  expect({ type: m.type, req: m.req }).toEqual({ type: Msg.RECIPE, req: 7 });
  return JSON.parse(m.body.toString("utf8")) as Record<string, unknown>;
}

const errorOf = (m: Message) => ({
  type: m.type,
  req: m.req,
  code: m.body[0],
  text: m.body.toString("utf8", 1),
});

describe("the lying-site harness, over real sshd", () => {
  it("honest: relays the real server (the baseline for every lie)", async () => {
    const client = await connect("honest");
    expect(await recipeHeader(client, "one.raw")).toMatchObject({
      name: "one.raw",
      digest: one.digest,
      count: 3,
    });
    const part = await reply(client);
    expect({ type: part.type, req: part.req, entries: part.body.equals(one.entries) }).toEqual({
      type: Msg.RECIPE_PART,
      req: 7,
      entries: true,
    });
    client.send(Msg.PING, 8, Buffer.from("hi"));
    expect(await reply(client)).toMatchObject({ type: Msg.PONG, req: 8, body: Buffer.from("hi") });
  });

  it("honest: works as an SSH site's remote command through openSite", async () => {
    const site = await openSite(lyingSiteConfig(sshd, "paris", repo, "honest"), {
      knownHostsPath: sshd.knownHostsPath,
      sshConfigPath: "/dev/null",
    });
    try {
      expect((await site.listRecipes()).map((r) => r.name).sort()).toEqual(["one.raw", "two.raw"]);
    } finally {
      await site.close();
    }
  });

  it("other-recipe: GET_RECIPE is answered with another image's recipe", async () => {
    const client = await connect("other-recipe=two.raw");
    expect(await recipeHeader(client, "one.raw")).toMatchObject({
      name: "two.raw",
      digest: two.digest,
      count: 5,
    });
  });

  it("bad-digest: the recipe's digest is not the image's", async () => {
    const client = await connect("bad-digest");
    const h = await recipeHeader(client, "one.raw");
    expect(h).toMatchObject({ name: "one.raw", count: 3, size: one.size });
    expect(h.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(h.digest).not.toBe(one.digest);
  });

  it("evil-name: the recipe comes back named ../../x (or as told)", async () => {
    expect(await recipeHeader(await connect("evil-name"), "one.raw")).toMatchObject({ name: "../../x" });
    await channel!.close();
    expect(await recipeHeader(await connect("evil-name=/etc/passwd"), "two.raw")).toMatchObject({
      name: "/etc/passwd",
      digest: two.digest,
    });
  });

  it("silent-after=0: HELLO, then no reply, and the connection stays up", async () => {
    const client = await connect("silent-after=0");
    client.send(Msg.PING, 1, Buffer.from("anyone?"));
    client.send(Msg.LIST_RECIPES, 2);
    expect(await client.next(1500)).toBe("timeout");
    expect(client.isEnded).toBe(false);
  });

  it("silent-after=2: two requests are answered, the third is not", async () => {
    const client = await connect("silent-after=2");
    for (const req of [1, 2, 3]) client.send(Msg.PING, req, Buffer.from(`p${req}`));
    expect(await reply(client)).toMatchObject({ type: Msg.PONG, req: 1 });
    expect(await reply(client)).toMatchObject({ type: Msg.PONG, req: 2 });
    expect(await client.next(1500)).toBe("timeout");
    expect(client.isEnded).toBe(false);
  });

  it("error-escapes: the first request gets ERROR 70 with escapes and a forged nitro line; the rest is served", async () => {
    const client = await connect("error-escapes");
    client.send(Msg.LIST_RECIPES, 4);
    const e = errorOf(await reply(client));
    expect(e).toEqual({ type: Msg.ERROR, req: 4, code: 70, text: EVIL_TEXT });
    expect(e.text).toContain("\x1b[");
    expect(e.text).toMatch(/\nnitro: /);
    client.send(Msg.PING, 5, Buffer.from("again"));
    expect(await reply(client)).toMatchObject({ type: Msg.PONG, req: 5 });
  });

  it("fatal-escapes: a session ERROR 70 with the same text, on stderr too, and exit 70", async () => {
    channel = await openLyingChannel(sshd, repo, "fatal-escapes");
    let stderr = "";
    channel.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const client = new RawWireClient(channel.stream);
    await client.hello();
    client.send(Msg.PING, 9, Buffer.from("x"));
    expect(errorOf(await reply(client))).toEqual({ type: Msg.ERROR, req: 0, code: 70, text: EVIL_TEXT });
    expect(await client.next()).toBe("end");
    expect((await channel.exit).code).toBe(70);
    expect(stderr).toContain(EVIL_TEXT);
  });

  it("huge-recipe=N: GET_RECIPE streams a recipe of N entries in full parts", async () => {
    const client = await connect("huge-recipe=300000");
    expect(await recipeHeader(client, "one.raw")).toMatchObject({ count: 300_000, size: 300_000 * 4096 });
    let entries = 0;
    for (let m = await reply(client); ; m = await reply(client)) {
      expect({ type: m.type, req: m.req }).toEqual({ type: Msg.RECIPE_PART, req: 7 });
      entries += m.body.length / ENTRY_BYTES;
      if (entries >= 300_000) break;
    }
    expect(entries).toBe(300_000);
  });

  it("huge-recipe: by default, a recipe as big as the protocol allows", async () => {
    const client = await connect("huge-recipe");
    const h = await recipeHeader(client, "one.raw");
    expect(h).toMatchObject({ count: Limits.RECIPE_ENTRIES, size: Limits.RECIPE_ENTRIES * 4096 });
    const first = await reply(client);
    expect({ type: first.type, entries: first.body.length / ENTRY_BYTES }).toEqual({
      type: Msg.RECIPE_PART,
      entries: Limits.PART_ENTRIES,
    });
    // It goes on as long as the client reads.
    expect(await reply(client)).toMatchObject({ type: Msg.RECIPE_PART, req: 7 });
  });
});
