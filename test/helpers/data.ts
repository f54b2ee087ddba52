import { createCipheriv, createHash } from "node:crypto";
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Deterministic incompressible bytes: an AES-CTR keystream seeded by a string. */
export function pseudoRandom(seed: string, length: number): Buffer {
  const key = createHash("sha256").update(seed).digest();
  const c = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  return c.update(Buffer.alloc(length));
}

/** Compressible, text-like bytes that still differ everywhere. */
export function pseudoText(seed: string, length: number): Buffer {
  const words = ["alpha", "beta", "gamma", "delta", "kernel", "libc", "apache", "mysql", "config", "cache"];
  const r = pseudoRandom(seed, length);
  const out = Buffer.allocUnsafe(length);
  let o = 0;
  for (let i = 0; o < length; i++) {
    const w = `${words[r[i % length]! % words.length]}${r[(i * 7) % length]! % 100} `;
    o += out.write(w, o);
  }
  return out;
}

export interface Region {
  at: number;
  data: Buffer;
}

/** A sparse file of `size` bytes holding the given regions (the rest are holes). */
export function writeSparse(path: string, size: number, regions: Region[]): void {
  const fd = openSync(path, "w");
  try {
    ftruncateSync(fd, size);
    for (const r of regions) writeSync(fd, r.data, 0, r.data.length, r.at);
  } finally {
    closeSync(fd);
  }
}

export function tempDir(prefix = "nitro-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
