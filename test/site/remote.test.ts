import { blake3 } from "@napi-rs/blake-hash";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { join } from "node:path";
import { PassThrough, Transform } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { recipeDigest, uniqueChunks } from "../../src/store/recipe.js";
import { LocalSite } from "../../src/site/local.js";
import { RemoteSite } from "../../src/site/remote.js";
import { serveSite } from "../../src/wire/server.js";
import type { PutProgress, PutRecipeOptions } from "../../src/site/site.js";
import { Store } from "../../src/store/store.js";
import { ENTRY_BYTES, type ChunkId, type Frame, type Recipe } from "../../src/store/types.js";
import { Exit } from "../../src/util/errors.js";
import { ProtocolClient } from "../../src/wire/client.js";
import { encodeHello } from "../../src/wire/messages.js";
import { Limits, PROTOCOL_VERSION } from "../../src/wire/protocol.js";
import { NITRO_BIN } from "../helpers/cli.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";
import { addTestImage, CountingSite, newStore } from "../helpers/sites.js";

function frameOf(store: Store, seed: string, n: number, size = 30_000): Frame {
  const datas = Array.from({ length: n }, (_, i) => pseudoRandom(`${seed}-${i}`, size));
  const { codec, payload } = store.codec.encode(Buffer.concat(datas));
  return { codec, chunks: datas.map((d) => ({ id: blake3(d), length: d.length })), payload };
}

async function* each<T>(items: T[]): AsyncIterable<T> {
  yield* items;
}

const idsOf = (frames: Frame[]) => frames.flatMap((f) => f.chunks.map((c) => c.id));
const hex = (ids: ChunkId[]) => ids.map((id) => id.toString("hex")).sort();

/** Every chunk of the frames, checked against its id; returns the ids. */
function checkedIds(store: Store, frames: Frame[]): ChunkId[] {
  const out: ChunkId[] = [];
  let bad = 0;
  for (const f of frames) {
    let raw = 0;
    for (const c of f.chunks) raw += c.length;
    const bytes = store.codec.decode(f.codec, f.payload, raw);
    let o = 0;
    for (const c of f.chunks) {
      if (!blake3(bytes.subarray(o, o + c.length)).equals(c.id)) bad++;
      o += c.length;
      out.push(c.id);
    }
  }
  expect(bad).toBe(0);
  return out;
}

async function collect(frames: AsyncIterable<Frame>): Promise<Frame[]> {
  const out: Frame[] = [];
  for await (const f of frames) out.push(f);
  return out;
}

function bigRecipe(n: number): Recipe {
  const entries = Buffer.alloc(n * ENTRY_BYTES);
  for (let i = 0; i < n; i++) {
    entries.writeUInt32LE(i, i * ENTRY_BYTES + 4);
    entries.writeUInt32LE(4096, i * ENTRY_BYTES + 32);
  }
  return {
    name: "huge.raw",
    size: n * 4096,
    chunker: { kind: "fixed", min: 4096, avg: 4096, max: 4096 },
    digest: recipeDigest(n * 4096, entries),
    created: "2024-05-01T10:00:00.000Z",
    entries,
  };
}

let tmp: ReturnType<typeof tempDir>;
let store: Store;

beforeEach(() => {
  tmp = tempDir();
  store = newStore(tmp.dir, "lyon");
});

afterEach(async () => {
  await store.close();
  tmp.cleanup();
});

/**
 * RemoteSite and serveSite joined by two in-process streams; what the server sends goes through
 * `via` when given.
 */
function pair(
  readOnly = false,
  window?: number,
  site = new LocalSite("lyon", store),
  extra: { via?: Transform; roundTrip?: () => Promise<void> } = {},
) {
  const up = new PassThrough();
  const down = new PassThrough();
  const served = serveSite(site, up, extra.via ?? down, { readOnly });
  extra.via?.pipe(down);
  const opts = { window, getWindow: 256 * 1024, ...(extra.roundTrip ? { roundTrip: extra.roundTrip } : {}) };
  const remote = new RemoteSite("lyon", { input: down, output: up }, opts);
  return { remote, served };
}

describe("RemoteSite over serveSite, in process", () => {
  it("puts frames with a small window, reports progress, and skips what is there on a re-run", async () => {
    // Counts the frames the far store has taken, to check the sender's window against.
    const counting = new CountingSite("lyon", store);
    const frames = Array.from({ length: 40 }, (_, i) => frameOf(store, `p${i}`, 3));
    const frameBytes = 3 + 3 * ENTRY_BYTES + frames[0]!.payload.length;
    const { remote, served } = pair(false, 3 * frameBytes, counting);
    await remote.ready();
    expect(remote.readOnly).toBe(false);
    const ids = idsOf(frames);
    expect(await remote.has(ids)).toEqual(ids.map(() => false));
    const progress: PutProgress[] = [];
    let pulled = 0;
    let most = 0;
    const source = (async function* () {
      for (const f of frames) {
        most = Math.max(most, pulled - counting.taken);
        pulled++;
        yield f;
      }
    })();
    const r = await remote.putFrames(source, (p) => progress.push(p));
    // At most 3 frames in flight, and the window was used (not one frame at a time).
    expect(most).toBe(3);
    const wire = frames.reduce((s, f) => s + f.payload.length, 0);
    expect(r).toEqual({ chunks: 120, rawBytes: 120 * 30_000, wireBytes: wire, skipped: 0 });
    expect(progress.length).toBeGreaterThan(10);
    expect(progress.at(-1)).toEqual({ chunks: 120, rawBytes: 120 * 30_000, wireBytes: wire });
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]!.wireBytes).toBeGreaterThanOrEqual(progress[i - 1]!.wireBytes);
    expect(await remote.has(ids)).toEqual(ids.map(() => true));
    expect(store.has(ids)).toEqual(ids.map(() => true));
    const again = await remote.putFrames(each(frames.slice(0, 5)));
    expect(again).toMatchObject({ chunks: 0, skipped: 15 });
    await remote.close();
    await served;
  });

  it("streams frames back, with several getFrames at once and one abandoned half-way", async () => {
    const frames = Array.from({ length: 30 }, (_, i) => frameOf(store, `g${i}`, 4));
    await new LocalSite("lyon", store).putFrames(each(frames));
    const { remote, served } = pair();
    const a = idsOf(frames.slice(0, 15));
    const b = idsOf(frames.slice(15));
    const [fa, fb] = await Promise.all([collect(remote.getFrames(a)), collect(remote.getFrames(b))]);
    expect(hex(checkedIds(store, fa))).toEqual(hex(a));
    expect(hex(checkedIds(store, fb))).toEqual(hex(b));
    // Abandon a download after one frame: the site cancels it and stays usable.
    for await (const f of remote.getFrames(a)) {
      expect(f.chunks.length).toBe(4);
      break;
    }
    expect(await remote.has(b.slice(0, 3))).toEqual([true, true, true]);
    const subset = [a[1]!, b[7]!, a[30]!];
    expect(hex(checkedIds(store, await collect(remote.getFrames(subset))))).toEqual(hex(subset));
    await remote.close();
    await served;
  });

  it("grants a download's credit an eighth of the window at a time, not a CREDIT per frame", async () => {
    const frames = Array.from({ length: 80 }, (_, i) => frameOf(store, `w${i}`, 1, 4000));
    await new LocalSite("lyon", store).putFrames(each(frames));
    const grants: number[] = [];
    const original = ProtocolClient.prototype.grant;
    const grant = vi.spyOn(ProtocolClient.prototype, "grant").mockImplementation(function (
      this: ProtocolClient,
      r,
      bytes,
    ) {
      grants.push(bytes);
      original.call(this, r, bytes);
    });
    try {
      const { remote, served } = pair();
      const got = await collect(remote.getFrames(idsOf(frames)));
      expect(hex(idsOf(got))).toEqual(hex(idsOf(frames)));
      const taken = got.reduce((sum, f) => sum + f.payload.length, 0);
      expect(taken).toBeGreaterThan(256 * 1024);
      expect(grants.length).toBeGreaterThan(0);
      expect(grants.length).toBeLessThanOrEqual(Math.ceil(taken / (32 * 1024)));
      for (const g of grants) expect(g).toBeGreaterThanOrEqual(32 * 1024);
      await remote.close();
      await served;
    } finally {
      grant.mockRestore();
    }
  });

  it("splits has() and getFrames() batches bigger than one message", async () => {
    const frames = [frameOf(store, "s1", 4), frameOf(store, "s2", 4)];
    await new LocalSite("lyon", store).putFrames(each(frames));
    const distinct = idsOf(frames);
    const absent = blake3(Buffer.from("absent"));
    // More ids than one message carries; the site answers each batch on its own.
    const ids = Array.from({ length: Limits.IDS + 100 }, (_, i) => distinct[i % 8]!);
    const { remote, served } = pair();
    const have = await remote.has([...ids, absent]);
    expect(have.length).toBe(ids.length + 1);
    expect(have.indexOf(false)).toBe(ids.length);
    const got = await collect(remote.getFrames(ids));
    // Two requests, each answered with all 8 distinct chunks.
    expect(hex(checkedIds(store, got))).toEqual(hex([...distinct, ...distinct]));
    await remote.close();
    await served;
  });

  it("carries putRecipe's force flag to the far site's putRecipe", async () => {
    const asked: (boolean | undefined)[] = [];
    class RecordingSite extends LocalSite {
      override async putRecipe(recipe: Recipe, opts?: PutRecipeOptions): Promise<void> {
        asked.push(opts?.force);
        return super.putRecipe(recipe);
      }
    }
    const { remote, served } = pair(false, undefined, new RecordingSite("lyon", store));
    const recipe = bigRecipe(10);
    await remote.putRecipe(recipe);
    await remote.putRecipe(recipe, { force: true });
    await remote.putRecipe(recipe, { force: false });
    expect(asked).toEqual([false, true, false]);
    expect((await remote.getRecipe("huge.raw"))!.digest).toBe(recipe.digest);
    await remote.close();
    await served;
  });

  it("puts, gets and lists recipes, one bigger than a message", async () => {
    const { remote, served } = pair();
    const recipe = bigRecipe(300_000);
    await remote.putRecipe(recipe);
    const back = (await remote.getRecipe("huge.raw"))!;
    expect(back.entries.equals(recipe.entries)).toBe(true);
    expect({ ...back, entries: null }).toEqual({ ...recipe, entries: null });
    expect(await remote.getRecipe("absent")).toBeUndefined();
    expect(await remote.listRecipes()).toEqual([
      {
        name: "huge.raw",
        size: recipe.size,
        digest: recipe.digest,
        created: recipe.created,
        chunks: 300_000,
      },
    ]);
    await expect(remote.getRecipe("../../x")).rejects.toMatchObject({ exitCode: Exit.USAGE });
    await remote.close();
    await served;
  });

  it("probes: times incompressible bytes and a round trip", async () => {
    const { remote, served } = pair();
    const p = await remote.probe(8 << 20);
    expect(p.bytes).toBe(7 << 20);
    expect(p.seconds).toBeGreaterThan(0);
    expect(p.rtt).toBeGreaterThan(0);
    expect(p.rtt).toBeLessThan(1);
    await remote.close();
    await served;
  });

  it("probes: the round trip is also timed after the bulk, when both ends are warm", async () => {
    // Everything the server sends is held 30 ms until the bulk has gone through, then not at all.
    let passed = 0;
    const slowAtFirst = new Transform({
      transform(data: Buffer, _enc, done) {
        passed += data.length;
        if (passed > 1 << 20) done(null, data);
        else setTimeout(() => done(null, data), 30);
      },
    });
    const { remote, served } = pair(false, undefined, undefined, { via: slowAtFirst });
    const p = await remote.probe(4 << 20);
    expect(p.rtt).toBeLessThan(0.02);
    await remote.close();
    await served;
  });

  it("times the transport's own round trip when it has one (an SSH keepalive), not a PING", async () => {
    let trips = 0;
    const roundTrip = async () => {
      trips++;
      await new Promise((r) => setTimeout(r, 20));
    };
    const { remote, served } = pair(false, undefined, undefined, { roundTrip });
    const p = await remote.probe(1 << 20);
    expect(trips).toBe(20);
    expect(p.rtt).toBeGreaterThanOrEqual(0.019);
    await remote.close();
    await served;
  });

  it("rejects the right promise with the server's code, and goes on", async () => {
    const { remote, served } = pair();
    const good = frameOf(store, "ok", 2);
    const bad = frameOf(store, "bad", 2);
    const forged = {
      ...bad,
      chunks: [bad.chunks[0]!, { ...bad.chunks[1]!, id: blake3(Buffer.from("lie")) }],
    };
    const missing = blake3(Buffer.from("missing"));
    const results = await Promise.allSettled([
      remote.putFrames(each([forged])),
      collect(remote.getFrames([missing])),
      remote.has([missing]),
    ]);
    expect(results[0]).toMatchObject({ status: "rejected", reason: { exitCode: Exit.CORRUPT } });
    expect((results[0] as PromiseRejectedResult).reason.message).toMatch(
      /^lyon: chunk .* do not match its id/,
    );
    expect(results[1]).toMatchObject({ status: "rejected", reason: { exitCode: Exit.NOT_FOUND } });
    expect(results[2]).toEqual({ status: "fulfilled", value: [false] });
    expect(store.has(idsOf([forged, bad]))).toEqual([false, false, false, false]);
    expect(await remote.putFrames(each([good]))).toMatchObject({ chunks: 2 });
    await remote.close();
    await served;
  });

  it("a read-only site refuses putFrames and putRecipe", async () => {
    const { remote, served } = pair(true);
    await remote.ready();
    expect(remote.readOnly).toBe(true);
    const frames = Array.from({ length: 10 }, (_, i) => frameOf(store, `ro${i}`, 2));
    await expect(remote.putFrames(each(frames))).rejects.toMatchObject({
      exitCode: Exit.FAILURE,
      message: expect.stringMatching(/^lyon: site is read-only/),
    });
    await expect(remote.putRecipe(bigRecipe(3))).rejects.toMatchObject({ exitCode: Exit.FAILURE });
    expect(await remote.has(idsOf(frames))).toEqual(idsOf(frames).map(() => false));
    expect(await remote.listRecipes()).toEqual([]);
    await remote.close();
    await served;
  });

  it("fails pending requests when the connection drops, and refuses a server of another version", async () => {
    const up = new PassThrough();
    const down = new PassThrough();
    const remote = new RemoteSite(
      "paris",
      { input: down, output: up },
      { describeClose: () => "sshd said bye" },
    );
    down.write(encodeHello());
    const pending = remote.has([blake3(Buffer.from("x"))]);
    await new Promise((r) => setTimeout(r, 20));
    down.end();
    await expect(pending).rejects.toMatchObject({
      exitCode: Exit.REMOTE,
      message: "paris: connection closed by the site: sshd said bye",
    });
    await expect(remote.listRecipes()).rejects.toMatchObject({ exitCode: Exit.REMOTE });

    const down2 = new PassThrough();
    const old = new RemoteSite("rome", { input: down2, output: new PassThrough() });
    down2.write(encodeHello(0, PROTOCOL_VERSION + 1));
    await expect(old.ready()).rejects.toThrow(
      `rome: protocol error: protocol version mismatch: this nitro speaks version ${PROTOCOL_VERSION}, the site ${PROTOCOL_VERSION + 1}`,
    );
    const down3 = new PassThrough();
    const banner = new RemoteSite("oslo", { input: down3, output: new PassThrough() });
    down3.write("Welcome to Ubuntu 24.04 LTS\n");
    await expect(banner.ready()).rejects.toThrow(/banner or a shell profile/);
  });
});

/** `nitro serve --stdio` in a child process, the way ssh runs it. */
function serveChild(repo: string, readOnly = false): ChildProcessWithoutNullStreams {
  const args = [NITRO_BIN, "serve", "--stdio", "--repo", repo, ...(readOnly ? ["--read-only"] : [])];
  return spawn(process.execPath, args, { stdio: "pipe" });
}

async function exitOf(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  return new Promise((r) => child.on("exit", (code) => r(code)));
}

describe("RemoteSite over `nitro serve --stdio` in a child process", () => {
  it("pushes an image's frames and recipe, then pulls them back", async () => {
    const { recipe } = await addTestImage(store, tmp.dir, "debian");
    const farDir = join(tmp.dir, "paris");
    await newStore(tmp.dir, "paris").close();
    const child = serveChild(farDir);
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const remote = new RemoteSite(
      "paris",
      { input: child.stdout, output: child.stdin },
      { describeClose: () => stderr.trim() },
    );
    const { ids } = uniqueChunks(recipe);
    expect(await remote.has(ids)).toEqual(ids.map(() => false));
    const local = new LocalSite("lyon", store);
    const r = await remote.putFrames(local.getFrames(ids));
    expect(r.chunks).toBe(ids.length);
    await remote.putRecipe(recipe);
    expect(await remote.has(ids)).toEqual(ids.map(() => true));
    const back = await collect(remote.getFrames(ids));
    expect(hex(checkedIds(store, back))).toEqual(hex(ids));
    expect((await remote.listRecipes()).map((s) => s.name)).toEqual(["debian"]);
    await remote.close();
    expect(await exitOf(child)).toBe(0);
    expect(stderr).toBe("");
    const far = Store.open(farDir);
    try {
      expect(far.has(ids)).toEqual(ids.map(() => true));
      expect(far.getRecipe("debian")!.entries.equals(recipe.entries)).toBe(true);
    } finally {
      await far.close();
    }
  });

  it("a --read-only server refuses a push and stores nothing", async () => {
    const farDir = join(tmp.dir, "rome");
    await newStore(tmp.dir, "rome").close();
    const child = serveChild(farDir, true);
    const remote = new RemoteSite("rome", { input: child.stdout, output: child.stdin });
    const frames = [frameOf(store, "x", 3)];
    await expect(remote.putFrames(each(frames))).rejects.toMatchObject({ exitCode: Exit.FAILURE });
    await remote.close();
    expect(await exitOf(child)).toBe(0);
    const far = Store.open(farDir);
    try {
      expect(far.has(idsOf(frames))).toEqual([false, false, false]);
    } finally {
      await far.close();
    }
  });

  it("a killed server fails the push with a REMOTE error, and a re-run sends only what is missing", async () => {
    const farDir = join(tmp.dir, "oslo");
    await newStore(tmp.dir, "oslo").close();
    // 80 MiB: the far store commits after 64 MiB, so part of the push is durable when it dies.
    const frames = Array.from({ length: 80 }, (_, i) => frameOf(store, `k${i}`, 16, 65536));
    const child = serveChild(farDir);
    const remote = new RemoteSite("oslo", { input: child.stdout, output: child.stdin }, { window: 4 << 20 });
    let killed = false;
    const push = remote.putFrames(each(frames), (p) => {
      if (!killed && p.chunks > 0) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    await expect(push).rejects.toMatchObject({ exitCode: Exit.REMOTE });
    await exitOf(child);
    const again = serveChild(farDir);
    const remote2 = new RemoteSite("oslo", { input: again.stdout, output: again.stdin });
    const ids = idsOf(frames);
    const have = await remote2.has(ids);
    const missing = frames.filter((f) => !have[ids.indexOf(f.chunks[0]!.id)]);
    expect(missing.length).toBeGreaterThan(0);
    expect(missing.length).toBeLessThan(frames.length);
    const r = await remote2.putFrames(each(missing));
    expect(r.skipped).toBe(0);
    expect(r.chunks).toBe(missing.length * 16);
    expect(await remote2.has(ids)).toEqual(ids.map(() => true));
    await remote2.close();
    expect(await exitOf(again)).toBe(0);
  });
});
