import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NITRO_BIN, nitro } from "../helpers/cli.js";
import { pseudoRandom, pseudoText, tempDir } from "../helpers/data.js";
import { Store } from "../../src/store/store.js";
import { entryCount, entryId, entryLength } from "../../src/store/recipe.js";
import { packPath } from "../../src/store/layout.js";
import { FRAME_HEADER_BYTES } from "../../src/store/pack.js";
import { ENTRY_BYTES } from "../../src/store/types.js";

const MiB = 1024 * 1024;

/** The CLI with bytes in on stdin (a pipe) and bytes out on stdout. */
function nitroBytes(args: string[], input?: Buffer, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [NITRO_BIN, ...args], {
    input,
    maxBuffer: 256 * MiB,
    env: { ...process.env, ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

describe("images through pipes: add - and export -o -", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const repo = join(t.dir, "repo");
  // Data, written zeros (no hole on a pipe: they must still cost nothing), text, data at the end.
  const image = Buffer.concat([
    pseudoRandom("head", 5 * MiB + 123),
    Buffer.alloc(12 * MiB),
    pseudoText("text", 4 * MiB),
    pseudoRandom("tail", 3 * MiB + 7),
  ]);

  it("stores standard input with its zeros as zero runs, and streams it back byte for byte", () => {
    expect(nitro(["--repo", repo, "init"]).code).toBe(0);
    const add = nitroBytes(["--repo", repo, "--json", "add", "-", "--name", "piped"], image);
    expect(add.stderr).toBe("");
    expect(add.code).toBe(0);
    const r = JSON.parse(add.stdout.toString()) as {
      logicalBytes: number;
      zeroBytes: number;
      newBytes: number;
    };
    expect(r.logicalBytes).toBe(image.length);
    expect(r.zeroBytes).toBeGreaterThanOrEqual(11 * MiB);
    expect(r.newBytes).toBeLessThan(image.length - 11 * MiB);

    const out = nitroBytes(["--repo", repo, "export", "piped", "-o", "-"]);
    expect(out.code).toBe(0);
    expect(out.stdout.equals(image)).toBe(true);
  });

  it("gives exactly the slice asked for with --offset and --length, with or without workers", () => {
    const ranges = [
      [0, 100],
      [5 * MiB, 2 * MiB], // data into zeros
      [6 * MiB + 5, 13 * MiB], // zeros into text and data
      [image.length - 10, 10],
      [image.length, 0],
    ] as const;
    for (const threads of ["2", "0"])
      for (const [offset, length] of ranges) {
        const args = ["--repo", repo, "export", "piped", "-o", "-", "--offset", `${offset}`];
        const r = nitroBytes([...args, "--length", `${length}`], undefined, {
          NITRO_EXPORT_THREADS: threads,
        });
        expect(r.code).toBe(0);
        expect(r.stdout.equals(image.subarray(offset, offset + length))).toBe(true);
      }
    const tail = nitroBytes(["--repo", repo, "export", "piped", "-o", "-", "--offset", "1M"]);
    expect(tail.stdout.equals(image.subarray(MiB))).toBe(true);
  });

  it("writes a range to a file too", () => {
    const out = join(t.dir, "range.img");
    const r = nitro(["--repo", repo, "export", "piped", "-o", out, "--offset", "4M", "--length", "20M"]);
    expect(r.code).toBe(0);
    expect(readFileSync(out).equals(image.subarray(4 * MiB, 24 * MiB))).toBe(true);
  });

  it("refuses a range outside the image, and standard input without --name", () => {
    const past = nitro([
      "--repo",
      repo,
      "export",
      "piped",
      "-o",
      "-",
      "--offset",
      `${image.length - 5}`,
      "--length",
      "6",
    ]);
    expect(past.code).toBe(2);
    expect(past.stderr).toMatch(/past the end/);
    expect(past.stdout).toBe("");
    const noName = nitroBytes(["--repo", repo, "add", "-"], Buffer.from("x"));
    expect(noName.code).toBe(2);
    expect(noName.stderr).toMatch(/needs --name/);
  });
});

describe("a damaged chunk in the middle of a streamed export", () => {
  const t = tempDir();
  afterAll(t.cleanup);
  const repo = join(t.dir, "repo");
  const image = pseudoRandom("random", 48 * MiB);

  it("ends with an error on stderr and a non-zero exit after the bytes before it", async () => {
    expect(nitro(["--repo", repo, "init"]).code).toBe(0);
    expect(nitroBytes(["--repo", repo, "add", "-", "--name", "img"], image).code).toBe(0);

    // Flip one byte of the chunk at about 36 MiB (random data: its frame is stored raw).
    const store = Store.open(repo);
    const recipe = store.getRecipe("img")!;
    let offset = 0;
    let i = 0;
    while (offset < 36 * MiB) offset += entryLength(recipe, i++);
    const loc = store.index.location(entryId(recipe, i))!;
    await store.close();
    const fd = openSync(packPath(repo, loc.pack), "r+");
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    readSync(fd, header, 0, header.length, loc.frameOffset);
    expect(header[4]).toBe(0); // stored raw
    const payload = loc.frameOffset + FRAME_HEADER_BYTES + header.readUInt16LE(6) * ENTRY_BYTES;
    const at = payload + loc.innerOffset + 10;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);
    expect(i).toBeLessThan(entryCount(recipe));

    const r = nitroBytes(["--repo", repo, "export", "img", "-o", "-"]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/chunk [0-9a-f]{64} .*corrupt/);
    // Jobs go out whole and in order: everything before the damaged chunk's job was written.
    expect(r.stdout.length).toBeGreaterThan(24 * MiB);
    expect(r.stdout.length).toBeLessThan(image.length);
    expect(r.stdout.equals(image.subarray(0, r.stdout.length))).toBe(true);
    expect(r.stdout.length).toBeLessThanOrEqual(offset);
  });
});
