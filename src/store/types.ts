import type { ChunkerParams } from "../chunk/params.js";

export type { ChunkerKind, ChunkerParams } from "../chunk/params.js";

/** A chunk is named by the BLAKE3-256 digest of its uncompressed bytes. */
export const ID_BYTES = 32;
export type ChunkId = Buffer;

/** In a recipe, this id stands for a run of zero bytes of the entry's length: never stored. */
export const ZERO_ID: ChunkId = Buffer.alloc(ID_BYTES);

export const enum Codec {
  None = 0,
  Zstd = 1,
}

export interface FrameChunk {
  id: ChunkId;
  /** Uncompressed length in bytes. */
  length: number;
}

/**
 * The unit of compression, storage and transfer: consecutive chunks compressed together.
 * `payload` is the codec's encoding of the concatenated chunk bytes. A frame is stored in a pack
 * as received and sent on the wire as stored, so compression happens once.
 */
/**
 * Per chunk asked about: the bytes sending it takes, 0 when absent (its share of its stored,
 * compressed frame), and which stored frame holds it: chunks with the same number share a frame
 * (numbers mean something within one answer only). Asking for a frame's chunks together lets
 * the site send the frame as stored instead of recompressing a part of it.
 */
export interface StoredSizes {
  sizes: Uint32Array;
  frames: Uint32Array;
}

/** Chunks by id with their raw lengths, in the same order. */
export interface ChunkList {
  ids: ChunkId[];
  lengths: number[];
}

/**
 * StoredSizes as a store works them out: with each frame's stored payload and raw bytes (by its
 * number), from which a chunk's size follows from its raw length (frameShare). The wire carries
 * these and the asker, who knows the raw lengths, works the sizes out again.
 */
export interface FrameShares extends StoredSizes {
  frameStored: Uint32Array;
  frameRaw: Uint32Array;
}

/**
 * The bytes sending a chunk of `rawLength` takes: its share of its frame's stored payload in
 * proportion to its raw length (a chunk of a well-compressed frame is small), plus its entry in a
 * frame header. The one formula of both a store and whoever reads its answer over the wire.
 */
export function frameShare(rawLength: number, frameStored: number, frameRaw: number): number {
  const ratio = frameRaw > 0 ? frameStored / frameRaw : 1;
  return Math.min(0xffffffff, Math.ceil(rawLength * ratio) + ENTRY_BYTES);
}

export interface Frame {
  codec: Codec;
  chunks: FrameChunk[];
  payload: Buffer;
  /**
   * Set when the frame's bytes (payload and chunk ids) live in a recycled buffer: a consumer that
   * is done with them calls it. A consumer that never does only costs the reuse.
   */
  release?: () => void;
}

/** An image: its ordered chunk list and how to check the rebuilt whole. */
export interface Recipe {
  name: string;
  /** Size of the image in bytes (sum of entry lengths). */
  size: number;
  chunker: ChunkerParams;
  /** BLAKE3-256 of the whole image, hex. */
  digest: string;
  /** ISO 8601 creation time. */
  created: string;
  /**
   * Ordered entries packed as ENTRY_BYTES records (id, then length u32 LE), so that a recipe of
   * millions of chunks is one buffer, not millions of objects. ZERO_ID entries are runs of zeros.
   * Read and build them with src/store/recipe.ts.
   */
  entries: Buffer;
}

export const ENTRY_BYTES = ID_BYTES + 4;

export interface RecipeSummary {
  name: string;
  size: number;
  digest: string;
  created: string;
  chunks: number;
}

/** Frames and chunk bytes (uncompressed) a store has made durable so far while receiving. */
export interface PutProgress {
  chunks: number;
  rawBytes: number;
  /** Bytes of frame payload sent (or received) so far. */
  wireBytes: number;
}

export interface PutResult {
  chunks: number;
  rawBytes: number;
  wireBytes: number;
  /** Chunks the store already had (it skips them). */
  skipped: number;
}
