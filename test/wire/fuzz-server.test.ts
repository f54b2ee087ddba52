import { blake3 } from "@napi-rs/blake-hash";
import fc from "fast-check";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalSite } from "../../src/site/local.js";
import { recipeDigest } from "../../src/store/recipe.js";
import type { Store } from "../../src/store/store.js";
import { ENTRY_BYTES, type Recipe } from "../../src/store/types.js";
import { Exit, NitroError } from "../../src/util/errors.js";
import { decodeError, encodeHello } from "../../src/wire/messages.js";
import { ACCEPTS, Msg } from "../../src/wire/protocol.js";
import { MessageReader } from "../../src/wire/reader.js";
import { recipeHeader } from "../../src/wire/recipes.js";
import { serveSite } from "../../src/wire/server.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";
import { newStore } from "../helpers/sites.js";
import { FUZZ_SEED, bytes, mutated, stream, u32, type Draft } from "./fuzz-messages.js";

/** A session must be over this long after its input ended. */
const SESSION_BOUND_MS = 5_000;
/** Output read from one session before the test hangs up (a PROBE may ask for gigabytes). */
const OUTPUT_CAP = 8 * 1024 * 1024;

const known = [0, 1, 2, 3].map((i) => pseudoRandom(`known-${i}`, 200 + i));
const knownIds = known.map((d) => blake3(d));

const req = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 4 }) }, { weight: 1, arbitrary: u32 });
const id = fc.oneof(
  fc.constantFrom(...knownIds),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b)),
);
const chunk = fc.oneof(
  fc.constantFrom(...known),
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)),
);
const names = fc.constantFrom(
  "base.raw",
  "fuzz.raw",
  "new-image.qcow2",
  "../escape.raw",
  "../../etc/passwd",
  "/abs.raw",
  "dir/img.raw",
  "",
  ".",
  "..",
  ".hidden",
  "x".repeat(300),
  "nul\0name",
  "\u202egpj.raw",
  "lock",
  "index",
);

const draft = (type: number, body: fc.Arbitrary<Uint8Array> = fc.constant(new Uint8Array(0))) =>
  fc.tuple(req, body).map(([r, b]): Draft => ({ type, req: r, body: b }));

const ids = fc.array(id, { maxLength: 6 }).map((xs) => Buffer.concat(xs));

/** PUT_FRAME body: codec, count, chunk table and payload, true or slightly forged. */
const frameBody = fc
  .record({
    chunks: fc.array(chunk, { minLength: 1, maxLength: 4 }),
    codec: fc.constantFrom(0, 0, 0, 1, 2),
    forgeId: fc.option(fc.nat(3)),
    countDelta: fc.constantFrom(0, 0, 0, 0, 1, -1),
  })
  .map(({ chunks, codec, forgeId, countDelta }) => {
    const head = Buffer.alloc(3 + chunks.length * ENTRY_BYTES);
    head.writeUInt8(codec, 0);
    head.writeUInt16LE(Math.max(0, chunks.length + countDelta), 1);
    chunks.forEach((c, i) => {
      const chunkId = forgeId === i ? Buffer.alloc(32, 7) : blake3(c);
      chunkId.copy(head, 3 + i * ENTRY_BYTES);
      head.writeUInt32LE(c.length, 3 + i * ENTRY_BYTES + 32);
    });
    return Buffer.concat([head, ...chunks]);
  });

/** A recipe upload: header then parts, usually consistent, sometimes lying about count, size or digest. */
const recipeUpload = fc
  .record({
    req,
    name: names,
    entries: fc.array(fc.tuple(id, fc.nat(1000)), { maxLength: 6 }),
    sizeDelta: fc.constantFrom(0, 0, 0, 1, -1, 1e15),
    countDelta: fc.constantFrom(0, 0, 0, 1, -1, 20_000_000),
    digestOk: fc.boolean(),
    force: fc.boolean(),
    split: fc.nat(6),
    json: fc.option(fc.json(), { freq: 10 }),
  })
  .map((u): Draft[] => {
    const entries = Buffer.alloc(u.entries.length * ENTRY_BYTES);
    let size = 0;
    u.entries.forEach(([chunkId, length], i) => {
      chunkId.copy(entries, i * ENTRY_BYTES);
      entries.writeUInt32LE(length, i * ENTRY_BYTES + 32);
      size += length;
    });
    const recipe: Recipe = {
      name: u.name,
      size: size + u.sizeDelta,
      chunker: { kind: "fastcdc", min: 16384, avg: 65536, max: 262144 },
      digest: u.digestOk ? recipeDigest(size, entries) : "00",
      created: "2026-01-01T00:00:00.000Z",
      entries,
    };
    const header =
      u.json !== null
        ? Buffer.from(u.json)
        : (() => {
            const h = JSON.parse(recipeHeader(recipe, { force: u.force }).toString()) as { count: number };
            h.count = Math.max(0, h.count + u.countDelta);
            return Buffer.from(JSON.stringify(h));
          })();
    const cut = Math.min(u.split, u.entries.length) * ENTRY_BYTES;
    const parts = [entries.subarray(0, cut), entries.subarray(cut)].filter((p) => p.length > 0);
    return [
      { type: Msg.PUT_RECIPE, req: u.req, body: header },
      ...parts.map((p) => ({ type: Msg.RECIPE_PART, req: u.req, body: p })),
    ];
  });

const anyType = fc.nat(255);

/**
 * Requests of every kind, in any order, on a few request ids; one element may be several messages.
 * Uploads are rarer: each one that reaches the store costs a commit (fsync).
 */
const uploads: fc.Arbitrary<Draft[]> = fc.oneof(
  draft(Msg.PUT_FRAME, frameBody).map((d) => [d]),
  draft(Msg.PUT_END).map((d) => [d]),
  recipeUpload,
);
const requests: fc.Arbitrary<Draft[]> = fc.oneof(
  { arbitrary: uploads, weight: 1 },
  draft(Msg.HAS, ids).map((d) => [d]),
  fc.tuple(req, fc.oneof(fc.constant(1 << 20), u32), ids).map(([r, credit, body]): Draft[] => {
    const b = Buffer.alloc(4 + body.length);
    b.writeUInt32LE(credit, 0);
    body.copy(b, 4);
    return [{ type: Msg.GET_FRAMES, req: r, body: b }];
  }),
  draft(Msg.CREDIT, bytes(6)).map((d) => [d]),
  draft(Msg.CANCEL).map((d) => [d]),
  draft(Msg.RECIPE_PART, bytes(80)).map((d) => [d]),
  draft(
    Msg.GET_RECIPE,
    names.map((n) => Buffer.from(n)),
  ).map((d) => [d]),
  draft(Msg.LIST_RECIPES).map((d) => [d]),
  draft(Msg.PING, bytes(70)).map((d) => [d]),
  draft(
    Msg.PROBE,
    fc.oneof(fc.nat(300_000), fc.constant(2 ** 40)).map((n) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(n));
      return b;
    }),
  ).map((d) => [d]),
  draft(Msg.BYE).map((d) => [d]),
  fc.tuple(anyType, req, bytes(40)).map(([type, r, body]) => [{ type, req: r, body }]),
);

const hello = fc.oneof(
  { weight: 20, arbitrary: fc.constant(encodeHello()) },
  { weight: 1, arbitrary: fc.constant(encodeHello(0, 1)) },
  { weight: 1, arbitrary: bytes(12).map((b) => Buffer.from(b)) },
);

const messages = fc.array(requests, { maxLength: 8 }).chain((groups) => {
  const flat = groups.flat();
  return flat.length === 0
    ? fc.constant<Buffer[]>([])
    : fc.tuple(...flat.map((d) => mutated(fc.constant(d)))).map((ms): Buffer[] => ms);
});

const structured = stream(hello, messages);
const raw = stream(
  fc.oneof(fc.constant(encodeHello()), fc.constant(Buffer.alloc(0))),
  fc.array(
    bytes(64).map((b) => Buffer.from(b)),
    { maxLength: 4 },
  ),
);

interface Outcome {
  ended: boolean;
  failure?: unknown;
  internalErrors: string[];
}

/** One session over `site`: the pieces are written, the input ends, and the session must end. */
async function session(site: LocalSite, input: Buffer[], readOnly: boolean): Promise<Outcome> {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const reader = new MessageReader(ACCEPTS.client);
  const internalErrors: string[] = [];
  let outBytes = 0;
  toClient.on("data", (c: Buffer) => {
    outBytes += c.length;
    if (outBytes > OUTPUT_CAP) return toClient.destroy();
    reader.push(c);
    // The server's own output must always parse: it is a client's input.
    for (let m = reader.next(); m; m = reader.next()) {
      if (m.type !== Msg.ERROR) continue;
      const { code, message } = decodeError(m.body);
      if (code === Exit.INTERNAL) internalErrors.push(message);
    }
  });
  const served = serveSite(site, toServer, toClient, { readOnly });
  for (const p of input) toServer.write(p);
  toServer.end();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<"hung">((r) => (timer = setTimeout(() => r("hung"), SESSION_BOUND_MS)));
  const result = await Promise.race([
    served.then(
      () => ({ ended: true }),
      (failure: unknown) => ({ ended: true, failure }),
    ),
    bound.then(() => ({ ended: false })),
  ]);
  clearTimeout(timer);
  toClient.destroy();
  return { ...result, internalErrors };
}

const REPO_FILE = /^lyon\/(nitro\.json|lock|index|index\/(data|lock)\.mdb|packs|packs\/\d{8}\.pack)$/;

function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    const rel = relative(base, path);
    return e.isDirectory() ? [rel, ...filesUnder(path, base)] : [rel];
  });
}

describe("fuzzing the server's request parsing", () => {
  const t = tempDir();
  let store: Store;
  let site: LocalSite;

  beforeAll(async () => {
    store = newStore(t.dir, "lyon");
    site = new LocalSite("lyon", store);
    const payload = Buffer.concat(known);
    await site.putFrames(
      (async function* () {
        yield { codec: 0, chunks: known.map((d, i) => ({ id: knownIds[i]!, length: d.length })), payload };
      })(),
    );
  });
  afterAll(async () => {
    await store.close();
    t.cleanup();
  });

  const property = (input: Buffer[], readOnly: boolean) =>
    session(site, input, readOnly).then((o) => {
      expect(o.ended, "the session ended within its bound").toBe(true);
      if (o.failure !== undefined) {
        expect(o.failure).toBeInstanceOf(NitroError);
        expect((o.failure as NitroError).exitCode).not.toBe(Exit.INTERNAL);
      }
      expect(o.internalErrors).toEqual([]);
    });

  const batch = (arb: fc.Arbitrary<Buffer[]>, numRuns: number) => async () => {
    // One session in four is read-only (`serve --read-only`), which refuses every upload.
    const readOnly = fc.nat(3).map((n) => n === 0);
    await fc.assert(fc.asyncProperty(arb, readOnly, property), { seed: FUZZ_SEED, numRuns });
    // Nothing but the repository's own files, wherever the names sent pointed.
    const stray = filesUnder(t.dir).filter((f) => f !== "lyon" && !REPO_FILE.test(f));
    expect(stray).toEqual([]);
    const report = store.check(false);
    expect(report.errors).toEqual([]);
  };

  it(
    "survives mutated requests of every kind: no crash, no hang, no write outside the repository",
    batch(structured, Number(process.env.FUZZ_N ?? 10_000)),
    120_000,
  );
  it("survives raw bytes after a HELLO", batch(raw, Number(process.env.FUZZ_N ?? 20_000)), 120_000);
});
