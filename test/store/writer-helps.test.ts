import { join } from "node:path";
import { blake3 } from "@napi-rs/blake-hash";
import { afterAll, expect, it } from "vitest";
import { chunkerParams } from "../../src/chunk/chunker.js";
import { Store } from "../../src/store/store.js";
import { pseudoText, tempDir } from "../helpers/data.js";

const t = tempDir("nitro-writer-helps-");
afterAll(() => t.cleanup());

it("compresses frames itself while the worker is busy, and they land intact ahead of the worker's", async () => {
  const store = Store.init(join(t.dir, "s"), {
    site: "s",
    chunker: chunkerParams("fixed", 64 * 1024),
    compression: { codec: "zstd", level: 1 },
  });
  // Ten 2 MiB frames queued before the first drain: the worker takes the two oldest, and drain()
  // compresses the other eight here, newest first, without yielding to the event loop.
  const data = pseudoText("writer-helps", 20 * 1024 * 1024);
  const ids: Buffer[] = [];
  const writer = await store.writer();
  for (let o = 0; o < data.length; o += 64 * 1024) {
    const chunk = data.subarray(o, o + 64 * 1024);
    ids.push(blake3(chunk));
    expect(writer.addChunk(ids.at(-1)!, chunk)).toBe(true);
  }
  await writer.drain();
  await writer.commit();
  writer.close();

  ids.forEach((id, i) =>
    expect(store.getChunk(id).equals(data.subarray(i * 65536, (i + 1) * 65536))).toBe(true),
  );
  const first = store.index.location(ids[0]!)!;
  const last = store.index.location(ids.at(-1)!)!;
  expect(last.frameOffset).toBeLessThan(first.frameOffset);
  expect(first.frameLength).toBeLessThan(2 * 1024 * 1024); // compressed, by the worker
  expect(last.frameLength).toBeLessThan(2 * 1024 * 1024); // compressed, here
  const report = store.check(true);
  expect(report.errors).toEqual([]);
  expect(report.frames).toBe(10);
  await store.close();
});
