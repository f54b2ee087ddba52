import { createRequire } from "node:module";
import { corrupt, usage } from "../util/errors.js";
import {
  ENTRY_BYTES,
  ID_BYTES,
  ZERO_ID,
  type ChunkId,
  type ChunkList,
  type Recipe,
  type RecipeSummary,
} from "./types.js";

const require = createRequire(import.meta.url);

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+@-]{0,127}$/;

/** Image names become keys and file names: no '/', no '..', bounded length. */
export function validateImageName(name: string): string {
  if (!NAME_RE.test(name) || name.includes(".."))
    throw usage(
      `invalid image name '${name}': use 1-128 letters, digits, '.', '_', '+', '@', '-', starting with a letter or digit, no '..'`,
    );
  return name;
}

export function entryCount(r: Pick<Recipe, "entries">): number {
  return r.entries.length / ENTRY_BYTES;
}

export function entryId(r: Pick<Recipe, "entries">, i: number): ChunkId {
  return r.entries.subarray(i * ENTRY_BYTES, i * ENTRY_BYTES + ID_BYTES);
}

export function entryLength(r: Pick<Recipe, "entries">, i: number): number {
  return r.entries.readUInt32LE(i * ENTRY_BYTES + ID_BYTES);
}

export function isZeroEntry(r: Pick<Recipe, "entries">, i: number): boolean {
  return entryId(r, i).equals(ZERO_ID);
}

const MAX_ENTRY_LENGTH = 0xffff_ffff;

/** Appends entries into a growing buffer; adjacent zero runs merge into one entry. */
export class EntriesBuilder {
  private buf = Buffer.allocUnsafe(ENTRY_BYTES * 1024);
  private used = 0;
  private lastZero = false;

  add(id: ChunkId, length: number): void {
    this.reserve();
    id.copy(this.buf, this.used);
    this.buf.writeUInt32LE(length, this.used + ID_BYTES);
    this.used += ENTRY_BYTES;
    this.lastZero = false;
  }

  addZeros(length: number): void {
    while (length > 0) {
      const prev = this.lastZero ? this.buf.readUInt32LE(this.used - 4) : MAX_ENTRY_LENGTH;
      const room = MAX_ENTRY_LENGTH - prev;
      if (this.lastZero && room > 0) {
        const n = Math.min(room, length);
        this.buf.writeUInt32LE(prev + n, this.used - 4);
        length -= n;
        continue;
      }
      const n = Math.min(MAX_ENTRY_LENGTH, length);
      this.reserve();
      this.buf.fill(0, this.used, this.used + ID_BYTES);
      this.buf.writeUInt32LE(n, this.used + ID_BYTES);
      this.used += ENTRY_BYTES;
      this.lastZero = true;
      length -= n;
    }
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.used));
  }

  private reserve(): void {
    if (this.used + ENTRY_BYTES <= this.buf.length) return;
    const next = Buffer.allocUnsafe(this.buf.length * 2);
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }
}

const DIGEST_TAG = Buffer.from("nitro recipe digest v1\0");

/**
 * The image digest: BLAKE3 over the size and the ordered (chunk id, length) entries. Each id is
 * the BLAKE3 of its bytes, so this pins every byte of the image while `add` hashes each byte only
 * once. It names a recipe: the same bytes cut otherwise (another chunker, another sparse layout)
 * get another digest.
 */
export function recipeDigest(size: number, entries: Buffer): string {
  const head = Buffer.alloc(DIGEST_TAG.length + 8);
  DIGEST_TAG.copy(head);
  head.writeBigUInt64LE(BigInt(size), DIGEST_TAG.length);
  // Loaded here, not at the top: `nitro ls` and `info` import this module and never hash.
  const { Blake3Hasher } = require("@napi-rs/blake-hash") as typeof import("@napi-rs/blake-hash");
  const hasher = new Blake3Hasher();
  hasher.update(head);
  hasher.update(entries);
  return hasher.digestBuffer().toString("hex");
}

/** Whether the entries add up to the size and hash to the recipe's digest. */
export function digestMatches(r: Recipe): boolean {
  let total = 0;
  for (let i = 0, n = entryCount(r); i < n; i++) total += entryLength(r, i);
  return total === r.size && recipeDigest(r.size, r.entries) === r.digest;
}

export function verifyRecipe(r: Recipe): void {
  if (!digestMatches(r)) throw corrupt(`image '${r.name}': its chunk list does not match its digest`);
}

/** What every recipe must be before it is stored: a valid name, a chunk list matching its digest. */
export function validateRecipe(r: Recipe): void {
  validateImageName(r.name);
  verifyRecipe(r);
}

export function summarize(r: Recipe): RecipeSummary {
  return { name: r.name, size: r.size, digest: r.digest, created: r.created, chunks: entryCount(r) };
}

/** Binary form (LMDB value and wire): u32 header length, JSON header, packed entries. */
export function encodeRecipe(r: Recipe): Buffer {
  const { entries, ...header } = r;
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.allocUnsafe(4 + json.length + entries.length);
  out.writeUInt32LE(json.length, 0);
  json.copy(out, 4);
  entries.copy(out, 4 + json.length);
  return out;
}

export function decodeRecipe(buf: Buffer): Recipe {
  if (buf.length < 4) throw corrupt("recipe: truncated");
  const hlen = buf.readUInt32LE(0);
  if (4 + hlen > buf.length || (buf.length - 4 - hlen) % ENTRY_BYTES !== 0)
    throw corrupt("recipe: malformed");
  const header = JSON.parse(buf.toString("utf8", 4, 4 + hlen)) as Omit<Recipe, "entries">;
  validateImageName(header.name);
  const entries = Buffer.from(buf.subarray(4 + hlen));
  let size = 0;
  for (let o = ID_BYTES; o < entries.length; o += ENTRY_BYTES) size += entries.readUInt32LE(o);
  if (size !== header.size) throw corrupt(`recipe '${header.name}': entry lengths do not add up to its size`);
  return { ...header, entries };
}

/** The distinct non-zero chunks of a recipe, in first-use order, with their lengths. */
export function uniqueChunks(r: Pick<Recipe, "entries">): ChunkList {
  const seen = new Set<string>();
  const ids: ChunkId[] = [];
  const lengths: number[] = [];
  for (let i = 0, n = entryCount(r); i < n; i++) {
    const id = entryId(r, i);
    if (id.equals(ZERO_ID)) continue;
    const key = id.toString("latin1");
    if (seen.has(key)) continue;
    seen.add(key);
    ids.push(id);
    lengths.push(entryLength(r, i));
  }
  return { ids, lengths };
}
