import { blake3 } from "@napi-rs/blake-hash";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { RemoteSite } from "../../src/site/remote.js";
import { serveSite } from "../../src/wire/server.js";
import { Codec, ENTRY_BYTES } from "../../src/store/types.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";
import { CountingSite, newStore } from "../helpers/sites.js";

describe("the upload window by default", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("stays a few MiB on a short link instead of filling every buffer before a slow store", async () => {
    const store = newStore(t.dir, "lyon");
    // A store slower than the link: what the window lets through piles up before it.
    const counting = new CountingSite("lyon", store, 2);
    const up = new PassThrough();
    const down = new PassThrough();
    const served = serveSite(counting, up, down, { readOnly: false });
    const remote = new RemoteSite("lyon", { input: down, output: up });
    const FRAME = 256 * 1024;
    const frameBytes = 3 + ENTRY_BYTES + FRAME;
    let pulled = 0;
    let most = 0;
    const source = (async function* () {
      for (let i = 0; i < 100; i++) {
        const data = pseudoRandom(`w${i}`, FRAME);
        most = Math.max(most, pulled - counting.taken);
        pulled++;
        yield { codec: Codec.None, chunks: [{ id: blake3(data), length: FRAME }], payload: data };
      }
    })();
    const r = await remote.putFrames(source);
    expect(r.chunks).toBe(100);
    // 25 MiB went through: the old fixed 32 MiB window would have let all of it queue up.
    expect(most).toBeGreaterThanOrEqual(2);
    expect(most * frameBytes).toBeLessThanOrEqual(8 * 1024 * 1024);
    await remote.close();
    await served;
    await store.close();
  });
});
