import {
  ENTRY_BYTES,
  ID_BYTES,
  type ChunkerParams,
  type Recipe,
  type RecipeSummary,
} from "../store/types.js";
import { Exit, NitroError, corrupt } from "../util/errors.js";
import { protocolError } from "./errors.js";
import { Limits } from "./protocol.js";

/**
 * A recipe travels as one header message (JSON of every field but the entries, plus `count`)
 * followed by RECIPE_PART messages carrying the packed entries as stored (36 bytes each: id, then
 * length u32 LE), at most PART_ENTRIES per part, until `count` entries have arrived. An upload's
 * header may also say `force: true`: replace a complete image of that name (push --force).
 */
export type RecipeHeader = Omit<Recipe, "entries"> & { count: number; force?: boolean };

export function recipeHeader(r: Recipe, opts: { force?: boolean } = {}): Buffer {
  const { entries, ...rest } = r;
  const fields = { ...rest, count: entries.length / ENTRY_BYTES, ...(opts.force ? { force: true } : {}) };
  const json = Buffer.from(JSON.stringify(fields));
  if (json.length > Limits.JSON_BYTES)
    throw new NitroError(
      Exit.INTERNAL,
      `recipe '${r.name}': header of ${json.length} bytes is too big to send`,
    );
  return json;
}

export function recipeParts(r: Recipe): Buffer[] {
  const step = Limits.PART_ENTRIES * ENTRY_BYTES;
  const parts: Buffer[] = [];
  for (let o = 0; o < r.entries.length; o += step) parts.push(r.entries.subarray(o, o + step));
  return parts;
}

const isCount = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0 && v <= max;
const isText = (v: unknown, max: number): v is string => typeof v === "string" && v.length <= max;

function isChunker(v: unknown): v is ChunkerParams {
  const c = v as ChunkerParams;
  return (
    typeof c === "object" &&
    c !== null &&
    (c.kind === "fastcdc" || c.kind === "fixed") &&
    isCount(c.min) &&
    isCount(c.avg) &&
    isCount(c.max)
  );
}

function parseJson(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw protocolError(`${what} is not JSON`);
  }
}

export function decodeRecipeHeader(body: Buffer): RecipeHeader {
  const h = parseJson(body, "recipe header") as RecipeHeader;
  if (
    typeof h !== "object" ||
    h === null ||
    !isText(h.name, Limits.NAME_BYTES) ||
    !isCount(h.size) ||
    !isChunker(h.chunker) ||
    !isText(h.digest, 128) ||
    !isText(h.created, 64) ||
    !isCount(h.count, Limits.RECIPE_ENTRIES) ||
    (h.force !== undefined && typeof h.force !== "boolean")
  )
    throw protocolError("malformed recipe header");
  const { name, size, chunker, digest, created, count, force } = h;
  return {
    name,
    size,
    chunker: { kind: chunker.kind, min: chunker.min, avg: chunker.avg, max: chunker.max },
    digest,
    created,
    count,
    ...(force ? { force } : {}),
  };
}

/** Collects RECIPE_PART bodies; memory grows with what actually arrives, not with `count`. */
export class RecipeAssembler {
  private readonly parts: Buffer[] = [];
  private received = 0;
  /** Sum of the entry lengths received so far. */
  private lengths = 0;

  constructor(readonly header: RecipeHeader) {}

  get complete(): boolean {
    return this.received === this.header.count;
  }

  /** Whether the entries received so far already add up to more than the header's size. */
  get oversized(): boolean {
    return this.lengths > this.header.size;
  }

  add(body: Buffer): void {
    const n = body.length / ENTRY_BYTES;
    if (!Number.isInteger(n) || n === 0) throw protocolError("recipe part is not a whole number of entries");
    if (this.received + n > this.header.count)
      throw protocolError(`recipe '${this.header.name}' has more entries than its header says`);
    this.parts.push(Buffer.from(body));
    this.received += n;
    for (let o = ID_BYTES; o < body.length; o += ENTRY_BYTES) this.lengths += body.readUInt32LE(o);
  }

  /** The recipe, once complete; its entry lengths must add up to its size. */
  finish(): Recipe {
    const entries = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts.length = 0;
    const { count: _count, force: _force, ...rest } = this.header;
    if (this.lengths !== rest.size)
      throw corrupt(`recipe '${rest.name}': entry lengths do not add up to its size`);
    return { ...rest, entries };
  }
}

/** RECIPE_LIST bodies: JSON arrays of summaries, each within LIST_BYTES. */
export function encodeList(list: RecipeSummary[]): Buffer[] {
  const out: Buffer[] = [];
  let batch: string[] = [];
  let bytes = 2;
  const flush = () => {
    out.push(Buffer.from(`[${batch.join(",")}]`));
    batch = [];
    bytes = 2;
  };
  for (const s of list) {
    const { name, size, digest, created, chunks } = s;
    const json = JSON.stringify({ name, size, digest, created, chunks });
    if (bytes + json.length + 1 > Limits.LIST_BYTES / 4 && batch.length > 0) flush();
    batch.push(json);
    bytes += Buffer.byteLength(json) + 1;
  }
  if (batch.length > 0) flush();
  return out;
}

export function decodeList(body: Buffer): RecipeSummary[] {
  const list = parseJson(body, "recipe list");
  if (!Array.isArray(list)) throw protocolError("recipe list is not an array");
  return list.map((s: RecipeSummary) => {
    if (
      typeof s !== "object" ||
      s === null ||
      !isText(s.name, Limits.NAME_BYTES) ||
      !isCount(s.size) ||
      !isText(s.digest, 128) ||
      !isText(s.created, 64) ||
      !isCount(s.chunks)
    )
      throw protocolError("malformed recipe summary");
    return { name: s.name, size: s.size, digest: s.digest, created: s.created, chunks: s.chunks };
  });
}
