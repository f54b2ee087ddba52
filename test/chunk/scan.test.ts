import { writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { chunkerParams } from "../../src/chunk/chunker.js";
import { scanFile, scanStream, type ChunkSink } from "../../src/chunk/scan.js";
import { pseudoRandom, pseudoText, tempDir } from "../helpers/data.js";

const MiB = 1024 * 1024;

/** What a scan reports, as a list: chunk lengths and first bytes, zero runs as negative lengths. */
function recorder() {
  const seen: Array<number | string> = [];
  const sink: ChunkSink = {
    chunk: (d) => void seen.push(`${d.length}:${d.subarray(0, 8).toString("hex")}`),
    zeros: (n) => {
      const last = seen[seen.length - 1];
      if (typeof last === "number") seen[seen.length - 1] = last - n;
      else seen.push(-n);
    },
  };
  return { seen, sink };
}

/** The bytes in pieces of uneven sizes, as a pipe delivers them. */
async function* pieces(b: Buffer): AsyncGenerator<Uint8Array> {
  const sizes = [1, 65536, 7, 3 * MiB + 5, 4096];
  for (let o = 0, k = 0; o < b.length; k++) {
    const n = sizes[k % sizes.length]!;
    yield b.subarray(o, o + n);
    o += n;
  }
}

describe.each(["fastcdc", "fixed"])("scanStream with the %s chunker", (kind) => {
  const t = tempDir();
  afterAll(t.cleanup);
  const p = chunkerParams(kind, 64 * 1024);
  // Written zeros, not holes: a file read without SEEK_DATA finds no hole and cuts them as data.
  const image = Buffer.concat([
    pseudoRandom("a", 3 * MiB + 11),
    Buffer.alloc(4 * MiB),
    pseudoText("b", 2 * MiB),
    pseudoRandom("c", 4 * MiB), // the file ends on a block boundary: the last read is empty
  ]);

  it("cuts a stream as it cuts the same bytes from a file, zeros as zero runs", async () => {
    const path = join(t.dir, "img");
    writeFileSync(path, image);
    const fromFile = recorder();
    const fh = await open(path, "r");
    try {
      await scanFile(fh, image.length, p, fromFile.sink);
    } finally {
      await fh.close();
    }
    const fromStream = recorder();
    const size = await scanStream(pieces(image), p, fromStream.sink);
    expect(size).toBe(image.length);
    expect(fromStream.seen).toEqual(fromFile.seen);
    const zeroBytes = fromStream.seen
      .filter((x): x is number => typeof x === "number")
      .reduce((a, b) => a - b, 0);
    expect(zeroBytes).toBeGreaterThan(3 * MiB);
  });

  it("reads an empty stream as an empty image", async () => {
    const r = recorder();
    expect(await scanStream(pieces(Buffer.alloc(0)), p, r.sink)).toBe(0);
    expect(r.seen).toEqual([]);
  });
});
