import { spawn, execFileSync } from "node:child_process";
import { closeSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Blake3Hasher, blake3 } from "@napi-rs/blake-hash";
import { afterAll, expect, it } from "vitest";
import { ReusedBufferReads } from "../../src/util/pipes.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";

const t = tempDir("nitro-reused-reads-");
afterAll(() => t.cleanup());

it("reads a pipe through one buffer, one chunk at a time, every byte intact", async () => {
  const data = pseudoRandom("fifo", 8 * 1024 * 1024 + 123);
  const file = join(t.dir, "data");
  const fifo = join(t.dir, "fifo");
  writeFileSync(file, data);
  execFileSync("mkfifo", [fifo]);
  const writer = spawn("sh", ["-c", 'exec cat "$0" > "$1"', file, fifo], { stdio: "ignore" });
  const exited = new Promise((resolve) => writer.on("exit", resolve));
  const fd = openSync(fifo, "r"); // returns once the writer has opened its end
  const input = ReusedBufferReads.open(fd, 64 * 1024)!;
  expect(input).toBeDefined();
  const hasher = new Blake3Hasher();
  let bytes = 0;
  let chunks = 0;
  let memory: ArrayBufferLike | undefined;
  for await (const chunk of input) {
    memory ??= chunk.buffer;
    expect(chunk.buffer).toBe(memory); // the same memory every time
    hasher.update(chunk);
    bytes += chunk.length;
    // A slow consumer: if reading went on meanwhile, the next bytes would overwrite this chunk.
    if (chunks++ % 16 === 0) await sleep(2);
  }
  expect(bytes).toBe(data.length);
  expect(hasher.digestBuffer().equals(blake3(data))).toBe(true);
  expect(chunks).toBeGreaterThan(8 * 16);
  expect(await exited).toBe(0);
});

it("declines a regular file, which is read as a stream instead", () => {
  const fd = openSync(join(t.dir, "data"), "r");
  try {
    expect(ReusedBufferReads.open(fd)).toBeUndefined();
  } finally {
    closeSync(fd);
  }
});
