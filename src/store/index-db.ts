import { createRequire } from "node:module";
import type { Database, RootDatabase } from "lmdb";
import { decodeRecipe, encodeRecipe, summarize } from "./recipe.js";
import type { ChunkId, Recipe, RecipeSummary } from "./types.js";

const require = createRequire(import.meta.url);
const { open } = require("lmdb") as typeof import("lmdb");

/** Where a chunk's bytes live: a frame in a pack, and the chunk's place inside the raw frame. */
export interface ChunkLocation {
  pack: number;
  frameOffset: number;
  frameLength: number;
  innerOffset: number;
  rawLength: number;
}

const LOCATION_BYTES = 24;

export function encodeLocation(l: ChunkLocation): Buffer {
  const b = Buffer.alloc(LOCATION_BYTES);
  b.writeUInt32LE(l.pack, 0);
  b.writeUIntLE(l.frameOffset, 4, 6);
  b.writeUInt32LE(l.frameLength, 12);
  b.writeUInt32LE(l.innerOffset, 16);
  b.writeUInt32LE(l.rawLength, 20);
  return b;
}

export function decodeLocation(b: Buffer): ChunkLocation {
  return {
    pack: b.readUInt32LE(0),
    frameOffset: b.readUIntLE(4, 6),
    frameLength: b.readUInt32LE(12),
    innerOffset: b.readUInt32LE(16),
    rawLength: b.readUInt32LE(20),
  };
}

export interface Counters {
  chunks: number;
  /** Uncompressed bytes of all distinct chunks. */
  uniqueBytes: number;
  /** Bytes of frames in packs referenced by the index (headers included). */
  storedBytes: number;
}

/**
 * The LMDB index: chunks (id -> location), recipes (name -> encoded recipe), heads (name ->
 * summary JSON, so listing never decodes entry lists) and counters.
 */
export class IndexDb {
  readonly env: RootDatabase;
  readonly chunks: Database<Buffer, Buffer>;
  readonly recipes: Database<Buffer, string>;
  readonly heads: Database<string, string>;
  readonly meta: Database<Counters, string>;

  constructor(path: string, readOnly = false) {
    this.env = open({ path, compression: false, readOnly, maxDbs: 8, mapSize: 2 ** 36 });
    this.chunks = this.env.openDB({ name: "chunks", keyEncoding: "binary", encoding: "binary" });
    this.recipes = this.env.openDB({ name: "recipes", keyEncoding: "ordered-binary", encoding: "binary" });
    this.heads = this.env.openDB({ name: "heads", keyEncoding: "ordered-binary", encoding: "json" });
    this.meta = this.env.openDB({ name: "meta", keyEncoding: "ordered-binary", encoding: "json" });
  }

  has(id: ChunkId): boolean {
    return this.chunks.doesExist(id);
  }

  location(id: ChunkId): ChunkLocation | undefined {
    const v = this.chunks.get(id);
    return v ? decodeLocation(v) : undefined;
  }

  recipe(name: string): Recipe | undefined {
    const v = this.recipes.get(name);
    return v ? decodeRecipe(v) : undefined;
  }

  summaries(): RecipeSummary[] {
    return [...this.heads.getRange()].map(({ value }) => JSON.parse(value) as RecipeSummary);
  }

  /**
   * Records a recipe and its summary, inside a write transaction. Checking it is the caller's
   * part (Store.putRecipe, StoreWriter.commit): this only writes.
   */
  writeRecipe(recipe: Recipe): void {
    this.recipes.putSync(recipe.name, encodeRecipe(recipe));
    this.heads.putSync(recipe.name, JSON.stringify(summarize(recipe)));
  }

  counters(): Counters {
    return this.meta.get("counters") ?? { chunks: 0, uniqueBytes: 0, storedBytes: 0 };
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}
