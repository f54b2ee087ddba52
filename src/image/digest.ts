import { blake3, Blake3Hasher } from "@napi-rs/blake-hash";

/**
 * The whole-image digest: BLAKE3 over the BLAKE3 of each 4 MiB block (a hash list, as Dropbox's
 * content hash). It names the bytes, not the chunking, and a hole costs one precomputed block
 * hash instead of hashing gigabytes of zeros.
 */
export const DIGEST_BLOCK = 4 * 1024 * 1024;
const ZERO_BLOCK_HASH = blake3(Buffer.alloc(DIGEST_BLOCK));
const ZEROS = Buffer.alloc(DIGEST_BLOCK);

export class ImageDigest {
  private outer = new Blake3Hasher();
  private block = new Blake3Hasher();
  private filled = 0;

  update(data: Uint8Array): void {
    let o = 0;
    while (o < data.length) {
      const n = Math.min(DIGEST_BLOCK - this.filled, data.length - o);
      this.block.update(data.subarray(o, o + n) as Buffer);
      this.filled += n;
      o += n;
      if (this.filled === DIGEST_BLOCK) this.endBlock(undefined);
    }
  }

  zeros(length: number): void {
    while (length > 0) {
      if (this.filled === 0 && length >= DIGEST_BLOCK) {
        this.endBlock(ZERO_BLOCK_HASH);
        length -= DIGEST_BLOCK;
        continue;
      }
      const n = Math.min(DIGEST_BLOCK - this.filled, length);
      this.update(ZEROS.subarray(0, n));
      length -= n;
    }
  }

  hex(): string {
    if (this.filled > 0) this.endBlock(undefined);
    return this.outer.digestBuffer().toString("hex");
  }

  private endBlock(known: Buffer | undefined): void {
    this.outer.update(known ?? this.block.digestBuffer());
    if (!known) this.block = new Blake3Hasher();
    this.filled = 0;
  }
}
