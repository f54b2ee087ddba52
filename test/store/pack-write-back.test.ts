import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import { PackWriter } from "../../src/store/pack.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";

// The kernel's answers to fdatasync on the thread pool, scripted: a write-back error cannot be
// caused on demand on a real disk here.
const background = vi.hoisted(() => ({ calls: 0, fail: false }));
vi.mock("node:fs", async (original) => {
  const fs = await original<typeof import("node:fs")>();
  return {
    ...fs,
    fdatasync: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      background.calls++;
      if (!background.fail) return fs.fdatasync(fd, cb);
      setImmediate(() => cb(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" })));
    },
  };
});

describe("a pack's write-back ahead of commits", () => {
  const t = tempDir("nitro-pack-write-back-");
  afterAll(t.cleanup);
  const header = Buffer.alloc(16);
  const payload = pseudoRandom("payload", 4 * 1024 * 1024);
  let n = 0;
  beforeEach(() => Object.assign(background, { calls: 0, fail: false }));

  it("starts once 16 MiB are appended, not before, and keeps the bytes", async () => {
    const path = join(t.dir, `${n++}.pack`);
    const pack = new PackWriter(0, path);
    for (let i = 0; i < 3; i++) pack.append(header, payload);
    expect(background.calls).toBe(0);
    pack.append(header, payload);
    expect(background.calls).toBe(1);
    await new Promise(setImmediate);
    pack.sync();
    pack.close();
    expect(
      readFileSync(path)
        .subarray(16, 16 + payload.length)
        .equals(payload),
    ).toBe(true);
  });

  it("hands a failed write-back to the next sync, which a commit waits for", async () => {
    background.fail = true;
    const pack = new PackWriter(0, join(t.dir, `${n++}.pack`));
    for (let i = 0; i < 4; i++) pack.append(header, payload);
    await vi.waitFor(() => expect(() => pack.sync()).toThrow(/EIO/));
    await expect(Promise.resolve().then(() => pack.syncInBackground())).rejects.toThrow(/EIO/);
    pack.close();
  });
});
