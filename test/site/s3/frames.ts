import { blake3 } from "@napi-rs/blake-hash";
import { Codec, type Frame } from "../../../src/store/types.js";
import { pseudoRandom } from "../../helpers/data.js";

/** Raw frames of `n` random chunks of `size` bytes each. */
export function frames(seed: string, count: number, n: number, size: number): Frame[] {
  return Array.from({ length: count }, (_, f) => {
    const chunks = Array.from({ length: n }, (_, i) => pseudoRandom(`${seed}-${f}-${i}`, size));
    return {
      codec: Codec.None,
      chunks: chunks.map((c) => ({ id: blake3(c), length: c.length })),
      payload: Buffer.concat(chunks),
    };
  });
}

export async function* each<T>(items: T[]): AsyncIterable<T> {
  yield* items;
}

export const ids = (fs: Frame[]) => fs.flatMap((f) => f.chunks.map((c) => c.id));
