import fc from "fast-check";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { digestMatches, recipeDigest } from "../../src/store/recipe.js";
import { ENTRY_BYTES, type Recipe } from "../../src/store/types.js";
import { Exit, NitroError } from "../../src/util/errors.js";
import { ProtocolClient } from "../../src/wire/client.js";
import { decodeFrame } from "../../src/wire/frames.js";
import { encodeError, encodeHello } from "../../src/wire/messages.js";
import { Msg } from "../../src/wire/protocol.js";
import { recipeHeader, recipeParts } from "../../src/wire/recipes.js";
import { FUZZ_SEED, bytes, mutated, stream, u32, type Draft } from "./fuzz-messages.js";

/** Every request must have settled this long after the site's stream ended. */
const SETTLE_BOUND_MS = 2_000;
const SITE = "lyon";
const ASKED = "debian-12.raw";

/** Exit codes a site's failure may surface as on this side. */
const LOCAL_CODES = new Set<number>([
  Exit.FAILURE,
  Exit.USAGE,
  Exit.NOT_FOUND,
  Exit.EXISTS,
  Exit.CORRUPT,
  Exit.LOCKED,
  Exit.NO_SPACE,
  Exit.REMOTE,
  Exit.INCOMPLETE,
]);
// eslint-disable-next-line no-control-regex -- a site's words must never reach the terminal raw
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** The first request of a fresh client is 1; replies mostly echo it, sometimes not. */
const req = fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, fc.constantFrom(0, 2), u32);
const reply = (type: number, body: Uint8Array = new Uint8Array(0)): fc.Arbitrary<Draft> =>
  req.map((r) => ({ type, req: r, body }));

/** An ERROR with any code and any text, control characters and bidi overrides included. */
const errorReply = fc
  .tuple(fc.nat(255), fc.string({ unit: "binary", maxLength: 60 }))
  .chain(([code, text]) => {
    const b = encodeError(Exit.OK, text);
    b[0] = code;
    return reply(Msg.ERROR, b);
  });

/** Any server message type with any small body. */
const junkReply = fc
  .tuple(fc.constantFrom(...Object.values(Msg)), req, bytes(48))
  .map(([type, r, body]): Draft => ({ type, req: r, body }));

const chunker = { kind: "fastcdc", min: 16384, avg: 65536, max: 262144 } as const;

/** A recipe reply: usually the image asked for, sometimes another name, size, count or digest. */
const recipeReply = fc
  .record({
    name: fc.constantFrom(ASKED, ASKED, ASKED, "other.raw", "../../etc/passwd", "debian-12.raw\n", ""),
    entries: fc.array(fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(5000)), {
      maxLength: 6,
    }),
    sizeDelta: fc.constantFrom(0, 0, 0, 1, -1),
    countDelta: fc.constantFrom(0, 0, 0, 1, -1, 2 ** 24),
    digestOk: fc.constantFrom(true, true, true, false),
    flip: fc.option(fc.nat(6 * ENTRY_BYTES - 1), { freq: 6 }),
    split: fc.nat(6),
    extraPart: fc.boolean(),
  })
  .map((u): Draft[] => {
    const entries = Buffer.alloc(u.entries.length * ENTRY_BYTES);
    let size = 0;
    u.entries.forEach(([id, length], i) => {
      entries.set(id, i * ENTRY_BYTES);
      entries.writeUInt32LE(length, i * ENTRY_BYTES + 32);
      size += length;
    });
    const declared = Math.max(0, size + u.sizeDelta);
    const recipe: Recipe = {
      name: u.name,
      size: declared,
      chunker,
      digest: recipeDigest(u.digestOk ? declared : declared + 1, entries),
      created: "2026-01-01T00:00:00.000Z",
      entries,
    };
    const header = JSON.parse(recipeHeader(recipe).toString()) as { count: number };
    header.count = Math.max(0, header.count + u.countDelta);
    // A byte flipped after the digest was taken: the entries no longer match it.
    const sent: Buffer = Buffer.from(entries);
    if (u.flip !== null && u.flip < sent.length) sent[u.flip]! ^= 0x55;
    const cut = Math.min(u.split, u.entries.length) * ENTRY_BYTES;
    const parts = [sent.subarray(0, cut), sent.subarray(cut)].filter((p) => p.length > 0);
    if (u.extraPart) parts.push(...recipeParts({ ...recipe, entries: sent.subarray(0, ENTRY_BYTES) }));
    return [
      { type: Msg.RECIPE, req: 1, body: Buffer.from(JSON.stringify(header)) },
      ...parts.map((body) => ({ type: Msg.RECIPE_PART, req: 1, body })),
    ];
  });

const one = (d: fc.Arbitrary<Draft>) => d.map((x) => [x]);

/** Replies to one kind of request: its own kinds mostly, errors and junk sometimes. */
function replies(own: fc.Arbitrary<Draft[]>): fc.Arbitrary<Buffer[]> {
  return fc
    .array(
      fc.oneof(
        { weight: 6, arbitrary: own },
        { weight: 1, arbitrary: one(errorReply) },
        { weight: 1, arbitrary: one(junkReply) },
        { weight: 1, arbitrary: one(reply(Msg.END)) },
      ),
      { maxLength: 4 },
    )
    .chain((groups) => {
      const flat = groups.flat();
      return flat.length === 0
        ? fc.constant<Buffer[]>([])
        : fc.tuple(...flat.map((d) => mutated(fc.constant(d)))).map((ms): Buffer[] => ms);
    });
}

const hello = fc.oneof(
  { weight: 20, arbitrary: fc.constant(encodeHello()) },
  { weight: 1, arbitrary: fc.constant(encodeHello(1, 3)) },
  { weight: 1, arbitrary: bytes(12).map((b) => Buffer.from(b)) },
);

/** A scripted site: HELLO and `input` in pieces, then the end of its stream. */
async function against<T>(
  input: Buffer[],
  op: (c: ProtocolClient) => Promise<T>,
): Promise<{ settled: boolean; value?: T; error?: unknown }> {
  const toClient = new PassThrough();
  const toServer = new PassThrough();
  toServer.resume();
  const client = new ProtocolClient(SITE, toClient, toServer);
  const outcome = op(client).then(
    (value) => ({ settled: true, value }),
    (error: unknown) => ({ settled: true, error }),
  );
  for (const p of input) toClient.write(p);
  toClient.end();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<{ settled: false }>(
    (r) => (timer = setTimeout(() => r({ settled: false }), SETTLE_BOUND_MS)),
  );
  const result = await Promise.race([outcome, bound]);
  clearTimeout(timer);
  return result;
}

/** No hang; a failure is a NitroError whose code means the same here and whose text is safe to print. */
function checkFailure(r: { settled: boolean; error?: unknown }): void {
  expect(r.settled, "the request settled once the site's stream ended").toBe(true);
  if (r.error === undefined) return;
  expect(r.error).toBeInstanceOf(NitroError);
  const e = r.error as NitroError;
  expect(LOCAL_CODES.has(e.exitCode), `exit code ${e.exitCode} of '${e.message}'`).toBe(true);
  expect(e.message.startsWith(`${SITE}: `), e.message).toBe(true);
  expect(CONTROL.test(e.message), JSON.stringify(e.message)).toBe(false);
}

const runs = (n: number) => ({ seed: FUZZ_SEED, numRuns: Number(process.env.FUZZ_N ?? n) });
const TIMEOUT = 120_000;

describe("fuzzing the client's reply parsing", () => {
  it(
    "getRecipe accepts only the image asked for, with entries matching its digest",
    async () => {
      const own = fc.oneof(recipeReply, one(reply(Msg.OK)));
      await fc.assert(
        fc.asyncProperty(stream(hello, replies(own)), async (input) => {
          const r = await against(input, (c) => c.getRecipe(ASKED));
          checkFailure(r);
          if (r.value === undefined) return;
          expect(r.value.name).toBe(ASKED);
          expect(digestMatches(r.value)).toBe(true);
        }),
        runs(15_000),
      );
    },
    TIMEOUT,
  );

  it(
    "has answers one boolean per id asked, or fails cleanly",
    async () => {
      const own = one(fc.oneof(bytes(3).chain((b) => reply(Msg.HAS_REPLY, b))));
      await fc.assert(
        fc.asyncProperty(fc.nat(20), stream(hello, replies(own)), async (n, input) => {
          const ids = Array.from({ length: n }, (_, i) => Buffer.alloc(32, i));
          const r = await against(input, (c) => c.has(ids));
          checkFailure(r);
          if (r.value !== undefined) expect(r.value).toHaveLength(n);
        }),
        runs(8_000),
      );
    },
    TIMEOUT,
  );

  it(
    "listRecipes takes only well-formed summaries",
    async () => {
      const summary = fc.record({
        name: fc.oneof(fc.constant(ASKED), fc.string({ maxLength: 20 })),
        size: fc.oneof(fc.nat(), fc.constant(-1), fc.constant(2 ** 60)),
        digest: fc.string({ maxLength: 8 }),
        created: fc.string({ maxLength: 8 }),
        chunks: fc.nat(),
      });
      const body = fc.oneof(
        fc.array(summary, { maxLength: 3 }).map((l) => Buffer.from(JSON.stringify(l))),
        fc.json().map((j) => Buffer.from(j)),
      );
      const own = one(body.chain((b) => reply(Msg.RECIPE_LIST, b)));
      await fc.assert(
        fc.asyncProperty(stream(hello, replies(own)), async (input) => {
          const r = await against(input, (c) => c.listRecipes());
          checkFailure(r);
          for (const s of r.value ?? []) {
            expect(typeof s.name).toBe("string");
            expect(Number.isSafeInteger(s.size) && s.size >= 0).toBe(true);
          }
        }),
        runs(8_000),
      );
    },
    TIMEOUT,
  );

  it(
    "probe never takes more data than it asked for",
    async () => {
      const own = one(fc.nat(40).chain((n) => reply(Msg.PROBE_DATA, new Uint8Array(n))));
      await fc.assert(
        fc.asyncProperty(fc.nat(100), stream(hello, replies(own)), async (asked, input) => {
          let got = 0;
          const r = await against(input, (c) => c.probe(asked, (b) => (got += b.length)));
          checkFailure(r);
          expect(got).toBeLessThanOrEqual(asked);
        }),
        runs(10_000),
      );
    },
    TIMEOUT,
  );

  it(
    "getFrames streams frames up to END and fails cleanly on anything else",
    async () => {
      const frameBody = fc
        .tuple(fc.constantFrom(0, 1, 7), fc.nat(3), fc.uint8Array({ maxLength: 60 }))
        .map(([codec, n, payload]) => {
          const head = Buffer.alloc(3 + n * ENTRY_BYTES);
          head.writeUInt8(codec, 0);
          head.writeUInt16LE(n, 1);
          for (let i = 0; i < n; i++) head.writeUInt32LE(Math.ceil(payload.length / n), 3 + i * 36 + 32);
          return Buffer.concat([head, payload]);
        });
      const own = one(frameBody.chain((b) => reply(Msg.FRAME, b)));
      await fc.assert(
        fc.asyncProperty(stream(hello, replies(own)), async (input) => {
          // As RemoteSite does: each FRAME is decoded (and checked) as it arrives.
          const r = await against(
            input,
            (c) => c.getFrames(1 << 20, [Buffer.alloc(32)], (m) => decodeFrame(m.body)).done,
          );
          checkFailure(r);
        }),
        runs(12_000),
      );
    },
    TIMEOUT,
  );

  it(
    "raw bytes from the site: every request settles with a clean failure",
    async () => {
      const raw = stream(
        fc.oneof(fc.constant(encodeHello()), fc.constant(Buffer.alloc(0))),
        fc.array(
          bytes(64).map((b) => Buffer.from(b)),
          { maxLength: 4 },
        ),
      );
      await fc.assert(
        fc.asyncProperty(raw, async (input) => {
          const r = await against(input, (c) =>
            Promise.allSettled([c.ping(), c.getRecipe(ASKED), c.listRecipes()]),
          );
          checkFailure(r);
          for (const s of r.value ?? [])
            if (s.status === "rejected") checkFailure({ settled: true, error: s.reason });
        }),
        runs(20_000),
      );
    },
    TIMEOUT,
  );
});
