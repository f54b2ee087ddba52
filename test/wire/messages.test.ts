import { blake3 } from "@napi-rs/blake-hash";
import { describe, expect, it } from "vitest";
import { Codec, ENTRY_BYTES, type Frame, type Recipe } from "../../src/store/types.js";
import { Exit } from "../../src/util/errors.js";
import { decodeFrame, frameMessage } from "../../src/wire/frames.js";
import {
  decodeBitmap,
  decodeError,
  decodeGet,
  decodeHello,
  decodeIds,
  decodePutAck,
  decodePutDone,
  decodeU32,
  decodeU64,
  encodeBitmap,
  encodeError,
  encodeGet,
  encodeHello,
  encodeIds,
  encodePutAck,
  encodePutDone,
  encodeU32,
  encodeU64,
  message,
} from "../../src/wire/messages.js";
import { ACCEPTS, FLAG_READ_ONLY, Limits, Msg, PROTOCOL_VERSION } from "../../src/wire/protocol.js";
import { MessageReader, type Message } from "../../src/wire/reader.js";
import {
  RecipeAssembler,
  decodeList,
  decodeRecipeHeader,
  encodeList,
  recipeHeader,
  recipeParts,
} from "../../src/wire/recipes.js";
import { pseudoRandom } from "../helpers/data.js";

/** Writes hello + messages as one byte stream, reads it back in pieces of random sizes. */
function roundTrip(side: "server" | "client", messages: Buffer[][], seed = 1): Message[] {
  const stream = Buffer.concat([encodeHello(), ...messages.flat()]);
  const reader = new MessageReader(ACCEPTS[side]);
  const out: Message[] = [];
  let x = seed;
  for (let o = 0; o < stream.length;) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const n = x % 3 === 0 ? 1 + (x % 7) : 1 + (x % 300_000);
    reader.push(stream.subarray(o, o + n));
    o += n;
    for (let m = reader.next(); m; m = reader.next()) out.push(m);
  }
  expect(reader.bufferedBytes).toBe(0);
  expect(out[0]!.type).toBe(Msg.HELLO);
  return out.slice(1);
}

function frameOf(seed: string, lengths: number[]): Frame {
  const chunks = lengths.map((length, i) => {
    const data = pseudoRandom(`${seed}-${i}`, length);
    return { data, id: blake3(data), length };
  });
  return {
    codec: Codec.None,
    chunks: chunks.map(({ id, length }) => ({ id, length })),
    payload: Buffer.concat(chunks.map((c) => c.data)),
  };
}

function recipeOf(n: number): Recipe {
  const entries = Buffer.alloc(n * ENTRY_BYTES);
  let size = 0;
  for (let i = 0; i < n; i++) {
    blake3(Buffer.from(`c${i}`)).copy(entries, i * ENTRY_BYTES);
    entries.writeUInt32LE(1000 + (i % 50), i * ENTRY_BYTES + 32);
    size += 1000 + (i % 50);
  }
  return {
    name: "debian-12.qcow2",
    size,
    chunker: { kind: "fastcdc", min: 16384, avg: 65536, max: 262144 },
    digest: "ab".repeat(32),
    created: "2024-05-01T10:00:00.000Z",
    entries,
  };
}

describe("wire messages", () => {
  it("round-trips the hello, with version and flags", () => {
    const h = decodeHello(encodeHello(FLAG_READ_ONLY), "server");
    expect(h).toEqual({ version: PROTOCOL_VERSION, flags: FLAG_READ_ONLY });
    expect(decodeHello(encodeHello(0, 7), "client").version).toBe(7);
    expect(() => decodeHello(Buffer.from("Welcome to Ubuntu!!!"), "server")).toThrow(/Welcome to U/);
  });

  it("round-trips every client request", () => {
    const ids = [blake3(Buffer.from("a")), blake3(Buffer.from("b")), blake3(Buffer.from("c"))];
    const frame = frameOf("f", [1000, 70_000, 5]);
    const got = roundTrip("server", [
      message(Msg.HAS, 1, encodeIds(ids)),
      frameMessage(Msg.PUT_FRAME, 2, frame),
      message(Msg.PUT_END, 2),
      message(Msg.GET_FRAMES, 3, encodeGet(16 << 20, ids)),
      message(Msg.CREDIT, 3, encodeU32(123_456)),
      message(Msg.CANCEL, 3),
      message(Msg.GET_RECIPE, 4, Buffer.from("debian-12.qcow2")),
      message(Msg.LIST_RECIPES, 5),
      message(Msg.PING, 6, Buffer.from("nitro")),
      message(Msg.PROBE, 7, encodeU64(5 * 2 ** 30)),
      message(Msg.BYE, 0),
    ]);
    expect(got.map((m) => [m.type, m.req])).toEqual([
      [Msg.HAS, 1],
      [Msg.PUT_FRAME, 2],
      [Msg.PUT_END, 2],
      [Msg.GET_FRAMES, 3],
      [Msg.CREDIT, 3],
      [Msg.CANCEL, 3],
      [Msg.GET_RECIPE, 4],
      [Msg.LIST_RECIPES, 5],
      [Msg.PING, 6],
      [Msg.PROBE, 7],
      [Msg.BYE, 0],
    ]);
    expect(decodeIds(got[0]!.body)).toEqual(ids);
    const f = decodeFrame(got[1]!.body);
    expect(f.codec).toBe(Codec.None);
    expect(f.chunks).toEqual(frame.chunks);
    expect(f.payload.equals(frame.payload)).toBe(true);
    expect(got[2]!.body.length).toBe(0);
    expect(decodeGet(got[3]!.body)).toEqual({ credit: 16 << 20, ids });
    expect(decodeU32(got[4]!.body, "CREDIT")).toBe(123_456);
    expect(got[6]!.body.toString()).toBe("debian-12.qcow2");
    expect(got[8]!.body.toString()).toBe("nitro");
    expect(decodeU64(got[9]!.body, "PROBE")).toBe(5 * 2 ** 30);
  });

  it("round-trips every server reply", () => {
    const bits = Array.from({ length: 1001 }, (_, i) => i % 3 === 0 || i === 1000);
    const ack = { consumedFrames: 12, durableChunks: 345, durableRawBytes: 6 * 2 ** 32 + 789 };
    const done = { chunks: 1, skipped: 2, rawBytes: 2 ** 40 + 3, wireBytes: 2 ** 35 + 4 };
    const frame = frameOf("g", [4096, 4096]);
    const got = roundTrip("client", [
      message(Msg.HAS_REPLY, 1, encodeBitmap(bits)),
      message(Msg.PUT_ACK, 2, encodePutAck(ack)),
      message(Msg.PUT_DONE, 2, encodePutDone(done)),
      frameMessage(Msg.FRAME, 3, frame),
      message(Msg.END, 3),
      message(Msg.OK, 4),
      message(Msg.PONG, 6, Buffer.from("nitro")),
      message(Msg.PROBE_DATA, 7, Buffer.alloc(Limits.PROBE_DATA, 7)),
      message(Msg.ERROR, 8, encodeError(Exit.CORRUPT, "chunk 00ff: bytes do not match its id")),
      message(Msg.BYE, 0),
    ]);
    expect(got.map((m) => m.type)).toEqual([
      Msg.HAS_REPLY,
      Msg.PUT_ACK,
      Msg.PUT_DONE,
      Msg.FRAME,
      Msg.END,
      Msg.OK,
      Msg.PONG,
      Msg.PROBE_DATA,
      Msg.ERROR,
      Msg.BYE,
    ]);
    expect(decodeBitmap(got[0]!.body, bits.length)).toEqual(bits);
    expect(got[0]!.body.length).toBe(126);
    expect(decodePutAck(got[1]!.body)).toEqual(ack);
    expect(decodePutDone(got[2]!.body)).toEqual(done);
    expect(decodeFrame(got[3]!.body).chunks).toEqual(frame.chunks);
    expect(got[7]!.body.length).toBe(Limits.PROBE_DATA);
    expect(decodeError(got[8]!.body)).toEqual({
      code: Exit.CORRUPT,
      message: "chunk 00ff: bytes do not match its id",
    });
  });

  it("maps an unknown error code to REMOTE and caps the message", () => {
    const e = decodeError(encodeError(200 as typeof Exit.CORRUPT, "x".repeat(10_000)));
    expect(e.code).toBe(Exit.REMOTE);
    expect(e.message.length).toBe(Limits.ERROR_BYTES);
  });

  it("round-trips a recipe of more entries than one part holds, both directions", () => {
    const recipe = recipeOf(Limits.PART_ENTRIES + 1234);
    const parts = recipeParts(recipe);
    expect(parts.length).toBe(2);
    for (const [side, type] of [
      ["server", Msg.PUT_RECIPE],
      ["client", Msg.RECIPE],
    ] as const) {
      const got = roundTrip(side, [
        message(type, 9, recipeHeader(recipe)),
        ...parts.map((p) => message(Msg.RECIPE_PART, 9, p)),
      ]);
      const asm = new RecipeAssembler(decodeRecipeHeader(got[0]!.body));
      for (const m of got.slice(1)) {
        expect(asm.complete).toBe(false);
        asm.add(m.body);
      }
      expect(asm.complete).toBe(true);
      const { entries, ...rest } = asm.finish();
      const { entries: sent, ...sentRest } = recipe;
      expect(rest).toEqual(sentRest);
      expect(entries.equals(sent)).toBe(true);
      // Compact: the entries are the 36-byte records as stored, the header a few hundred bytes.
      const wire = got.reduce((s, m) => s + 9 + m.body.length, 0);
      expect(wire).toBeLessThan(recipe.entries.length + 1000);
    }
  });

  it("carries an upload's force flag in the recipe header, and only a boolean one", () => {
    const empty = { ...recipeOf(0), size: 0 };
    expect(decodeRecipeHeader(recipeHeader(empty, { force: true })).force).toBe(true);
    expect(decodeRecipeHeader(recipeHeader(empty)).force).toBeUndefined();
    expect(new RecipeAssembler(decodeRecipeHeader(recipeHeader(empty, { force: true }))).finish()).toEqual(
      empty,
    );
    const json = JSON.parse(recipeHeader(empty).toString()) as Record<string, unknown>;
    expect(() => decodeRecipeHeader(Buffer.from(JSON.stringify({ ...json, force: "yes" })))).toThrow(
      /malformed recipe header/,
    );
  });

  it("round-trips an empty recipe and refuses one whose lengths do not add up", () => {
    const empty = { ...recipeOf(0), size: 0 };
    const asm = new RecipeAssembler(decodeRecipeHeader(recipeHeader(empty)));
    expect(asm.complete).toBe(true);
    expect(asm.finish()).toEqual(empty);
    const liar = { ...recipeOf(10), size: 1 };
    const a2 = new RecipeAssembler(decodeRecipeHeader(recipeHeader(liar)));
    a2.add(liar.entries);
    expect(() => a2.finish()).toThrow(/do not add up/);
  });

  it("round-trips recipe lists in bounded messages", () => {
    const list = Array.from({ length: 20_000 }, (_, i) => ({
      name: `image-${i}.qcow2`,
      size: i * 1e6,
      digest: "cd".repeat(32),
      created: "2024-05-01T10:00:00.000Z",
      chunks: i,
    }));
    const bodies = encodeList(list);
    expect(bodies.length).toBeGreaterThan(1);
    const got = roundTrip(
      "client",
      bodies.map((b) => message(Msg.RECIPE_LIST, 5, b)),
    );
    for (const m of got) expect(m.body.length).toBeLessThanOrEqual(Limits.LIST_BYTES);
    expect(got.flatMap((m) => decodeList(m.body))).toEqual(list);
  });
});
