import { describe, expect, it } from "vitest";
import { BufferPool } from "../../src/util/buffer-pool.js";

describe("BufferPool", () => {
  it("hands a released buffer's memory to the next request, and only then", () => {
    const pool = new BufferPool(1024, 2);
    const a = pool.take(100);
    const b = pool.take(200);
    expect(a.buf.buffer).not.toBe(b.buf.buffer);
    expect(a.buf.length).toBe(100);
    a.release();
    a.release(); // a second release must not put the memory in the pool twice
    const c = pool.take(1000);
    expect(c.buf.buffer).toBe(a.buf.buffer);
    expect(c.buf.length).toBe(1000);
    const d = pool.take(10);
    expect(d.buf.buffer).not.toBe(a.buf.buffer);
  });

  it("serves requests larger than a slot with fresh memory it never keeps", () => {
    const pool = new BufferPool(1024, 2);
    const big = pool.take(4096);
    expect(big.buf.length).toBe(4096);
    big.release();
    expect(pool.take(4096).buf.buffer).not.toBe(big.buf.buffer);
  });
});
