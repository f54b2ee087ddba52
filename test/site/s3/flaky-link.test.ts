import { blake3 } from "@napi-rs/blake-hash";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeS3Client } from "../../../src/site/s3/client.js";
import { S3Site } from "../../../src/site/s3/site.js";
import { Codec, type Frame } from "../../../src/store/types.js";
import { pseudoRandom } from "../../helpers/data.js";
import { startSwift, type SwiftInstance } from "../../helpers/swift.js";

/**
 * A TCP relay in front of Swift that resets every `every`-th connection as soon as the client
 * has sent its first bytes: the request dies mid-flight with ECONNRESET, as on a flaky network.
 */
class ResettingRelay {
  private connections = 0;
  resets = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(
    private readonly target: number,
    private readonly every: number,
  ) {
    this.server = createServer((client) => {
      const doomed = ++this.connections % this.every === 0;
      const upstream = createConnection(this.target, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.once("data", () => {
        if (!doomed) return;
        this.resets++;
        client.resetAndDestroy();
        upstream.destroy();
      });
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  listen(): Promise<string> {
    return new Promise((resolve) =>
      this.server.listen(0, "127.0.0.1", () =>
        resolve(`http://127.0.0.1:${(this.server.address() as { port: number }).port}`),
      ),
    );
  }

  close(): Promise<void> {
    this.sockets.forEach((s) => s.destroy());
    return new Promise((r) => this.server.close(() => r()));
  }
}

let swift: SwiftInstance;

beforeAll(async () => {
  swift = await startSwift();
  Object.assign(process.env, swift.env());
}, 90_000);

afterAll(async () => {
  await swift?.stop();
});

function frames(seed: string, count: number): Frame[] {
  return Array.from({ length: count }, (_, f) => {
    const chunks = [0, 1, 2].map((i) => pseudoRandom(`${seed}-${f}-${i}`, 40_000));
    return {
      codec: Codec.None,
      chunks: chunks.map((c) => ({ id: blake3(c), length: c.length })),
      payload: Buffer.concat(chunks),
    };
  });
}

async function* each<T>(items: T[]): AsyncIterable<T> {
  yield* items;
}

describe("S3Site over a link that resets connections", () => {
  it("retries the requests that die and ends with every chunk stored and read back", async () => {
    const bucket = await swift.newBucket();
    const relay = new ResettingRelay(Number(new URL(swift.endpoint).port), 3);
    const endpoint = await relay.listen();
    // A fresh connection per request, so that every third request meets a reset.
    const client = makeS3Client({ endpoint, pathStyle: true });
    client.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { headers?: Record<string, string> };
        if (req.headers) req.headers.connection = "close";
        return next(args);
      },
      { step: "build" },
    );
    const site = await S3Site.open("flaky", {
      client,
      location: { bucket, prefix: "" },
      retry: { attempts: 6, baseDelayMs: 10, maxDelayMs: 50 },
    });
    try {
      // Several writes and reads: each pack, index, recipe listing and ranged GET is a request.
      for (let round = 0; round < 4; round++) {
        const fs = frames(`flaky-${round}`, 3);
        const ids = fs.flatMap((f) => f.chunks.map((c) => c.id));
        expect(await site.putFrames(each(fs))).toMatchObject({ chunks: 9 });
        let got = 0;
        for await (const f of site.getFrames(ids)) got += f.chunks.length;
        expect(got).toBe(9);
      }
      expect(relay.resets).toBeGreaterThan(2);
    } finally {
      await site.close();
      await relay.close();
    }
  });
});
