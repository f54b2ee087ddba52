import fc from "fast-check";
import { HEADER_BYTES } from "../../src/wire/protocol.js";

/**
 * Arbitraries shared by the wire fuzz tests: messages built right, then bent (a declared length
 * that lies, a truncated body, flipped bytes), and byte streams cut at arbitrary points.
 */

/** One message before mutation. */
export interface Draft {
  type: number;
  req: number;
  body: Uint8Array;
}

/**
 * Fixed seed: a failure prints it with its path, and a re-run finds the same case. FUZZ_SEED (and
 * FUZZ_N, the runs of each property) in the environment explore further.
 */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 0x6e69_7472);

export const u32 = fc.nat({ max: 0xffff_ffff });

/** Mostly valid lengths, some off by a little, some huge. */
export const declaredLength = (real: number) =>
  fc.oneof(
    { weight: 2, arbitrary: fc.integer({ min: Math.max(0, real - 40), max: real + 40 }) },
    { weight: 1, arbitrary: u32 },
  );

export const bytes = (maxLength: number) => fc.uint8Array({ maxLength });

function frame(type: number, req: number, length: number, body: Uint8Array): Buffer {
  const head = Buffer.allocUnsafe(HEADER_BYTES);
  head.writeUInt32LE(length, 0);
  head.writeUInt8(type, 4);
  head.writeUInt32LE(req, 5);
  return Buffer.concat([head, body]);
}

/** The encoded message, usually as built, sometimes with a lying length, cut short or with bytes flipped. */
export function mutated(draft: fc.Arbitrary<Draft>): fc.Arbitrary<Buffer> {
  return draft.chain((d) => {
    const exact = fc.constant(frame(d.type, d.req, d.body.length, d.body));
    const lying = declaredLength(d.body.length).map((n) => frame(d.type, d.req, n, d.body));
    const whole = frame(d.type, d.req, d.body.length, d.body);
    const cut = fc.nat({ max: whole.length }).map((n) => whole.subarray(0, n));
    const flipped = fc
      .array(fc.tuple(fc.nat({ max: Math.max(0, whole.length - 1) }), fc.integer({ min: 1, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      })
      .map((flips) => {
        const b = Buffer.from(whole);
        for (const [at, x] of flips) if (at < b.length) b[at]! ^= x;
        return b;
      });
    return fc.oneof(
      { weight: 12, arbitrary: exact },
      { weight: 1, arbitrary: lying },
      { weight: 1, arbitrary: cut },
      { weight: 1, arbitrary: flipped },
    );
  });
}

/** `data` cut into pieces at arbitrary points, as a pipe may deliver it. */
export function pieces(data: Buffer): fc.Arbitrary<Buffer[]> {
  return fc.uniqueArray(fc.nat({ max: Math.max(0, data.length) }), { maxLength: 6 }).map((cuts) => {
    const at = [0, ...cuts.sort((a, b) => a - b), data.length];
    const out: Buffer[] = [];
    for (let i = 1; i < at.length; i++) if (at[i]! > at[i - 1]!) out.push(data.subarray(at[i - 1], at[i]));
    return out;
  });
}

/** A session's bytes: the messages, then cut into the pieces it arrives in. */
export function stream(
  hello: fc.Arbitrary<Buffer>,
  messages: fc.Arbitrary<Buffer[]>,
): fc.Arbitrary<Buffer[]> {
  return fc.tuple(hello, messages).chain(([h, ms]) => pieces(Buffer.concat([h, ...ms])));
}
