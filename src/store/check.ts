import { createRequire } from "node:module";
import { existsSync, statSync } from "node:fs";
import type { FrameCodec } from "./codec.js";
import { decodeLocation, type ChunkLocation, type IndexDb } from "./index-db.js";
import { packPath } from "./layout.js";
import { PackReader, parseFrameHeader, type ParsedFrameHeader } from "./pack.js";
import { digestMatches, entryCount, entryId } from "./recipe.js";
import { ZERO_ID, type ChunkId, type Recipe } from "./types.js";

const require = createRequire(import.meta.url);
const { blake3 } = require("@napi-rs/blake-hash") as typeof import("@napi-rs/blake-hash");

/** What can be wrong with a chunk the index records. */
export type ChunkDamage =
  /** The pack file the index points into is gone. */
  | "missing-pack"
  /** The pack ends before the frame does. */
  | "short-read"
  /** No valid frame header where the index points, or one of another length. */
  | "bad-header"
  /** The frame's header does not list the chunk where the index puts it. */
  | "not-in-frame"
  /** The frame's payload does not decode to its chunks (only with readData). */
  | "bad-data"
  /** The chunk's bytes do not hash to its id (only with readData). */
  | "bad-hash";

export interface ChunkFinding {
  kind: ChunkDamage;
  chunk: ChunkId;
  pack: number;
  /** Offset of the chunk's frame in the pack. */
  offset: number;
  /** Images whose recipes use the chunk. */
  images: string[];
  detail: string;
}

export interface RecipeFinding {
  /** bad-recipe: undecodable, or its chunk list does not match its digest; missing-recipe: listed only. */
  kind: "bad-recipe" | "missing-recipe";
  images: [string];
  detail: string;
}

export type Finding = ChunkFinding | RecipeFinding;

export interface CheckReport {
  chunks: number;
  frames: number;
  recipes: number;
  /** Damage: each names what is wrong, where, and which images it touches. */
  findings: Finding[];
  /** The findings as one line each. */
  errors: string[];
  /**
   * Images whose chunks are not all here: not damage, as push announces an image's recipe to every
   * site while its chunks live at some of them.
   */
  incomplete: string[];
}

/** What the check reads: the index, and the packs under dir. */
export interface CheckTarget {
  readonly dir: string;
  readonly index: IndexDb;
  readonly codec: FrameCodec;
}

export interface IndexedFrame {
  pack: number;
  offset: number;
  length: number;
  chunks: Array<{ id: ChunkId; loc: ChunkLocation }>;
}

/**
 * Checks every chunk location in the index against its pack, frame by frame, so that one damaged
 * frame never hides another: the frame exists in full, its header is valid and lists the chunk
 * where the index says; with readData, the frame decodes and the chunk hashes to its id. Then
 * every recipe: decodable, matching its digest, complete or not. Bytes no index entry points at
 * (left by an interrupted write) are not looked at.
 */
export function checkStore(store: CheckTarget, readData: boolean): CheckReport {
  const frames = allFrames(store.index);
  const damaged = new Map<string, ChunkFinding>();
  const packs = new PackFiles(store.dir);
  let chunks = 0;
  try {
    for (const frame of frames) {
      chunks += frame.chunks.length;
      for (const f of checkFrameNow(frame, packs, store, readData))
        damaged.set(f.chunk.toString("latin1"), f);
    }
  } finally {
    packs.close();
  }
  const { recipes, recipeFindings, incomplete } = checkRecipes(store.index, damaged);
  const findings: Finding[] = [...damaged.values(), ...recipeFindings];
  return {
    chunks,
    frames: frames.length,
    recipes,
    findings,
    errors: findings.map(describeFinding),
    incomplete,
  };
}

export function describeFinding(f: Finding): string {
  if (!("chunk" in f)) return `image '${f.images[0]}': ${f.detail}`;
  const used = f.images.length > 0 ? `used by ${f.images.join(", ")}` : "used by no image";
  return `chunk ${f.chunk.toString("hex")} in pack ${f.pack} at ${f.offset}: ${f.kind}, ${f.detail} (${used})`;
}

/** The report as JSON: chunk ids in hex. */
export function checkReportJson(r: CheckReport): object {
  return {
    ...r,
    findings: r.findings.map((f) => ("chunk" in f ? { ...f, chunk: f.chunk.toString("hex") } : f)),
  };
}

/** Frames in pack order, each with the indexed chunks it holds. */
export function groupFrames(entries: Iterable<{ id: ChunkId; value: Buffer }>): IndexedFrame[] {
  const frames = new Map<string, IndexedFrame>();
  for (const { id, value } of entries) {
    const loc = decodeLocation(value);
    const k = `${loc.pack}:${loc.frameOffset}`;
    let frame = frames.get(k);
    if (!frame) {
      frame = { pack: loc.pack, offset: loc.frameOffset, length: loc.frameLength, chunks: [] };
      frames.set(k, frame);
    }
    frame.chunks.push({ id, loc });
  }
  return [...frames.values()].sort((a, b) => a.pack - b.pack || a.offset - b.offset);
}

/** Every frame the index points into. */
export function allFrames(index: IndexDb): IndexedFrame[] {
  return groupFrames(
    (function* () {
      for (const { key, value } of index.chunks.getRange()) yield { id: Buffer.from(key), value };
    })(),
  );
}

/**
 * checkFrame, each finding then confirmed on the chunk's location read afresh: a gc that ran since
 * the frames were listed has copied live chunks into new packs, deleted the old packs and dropped
 * unused chunks. A chunk no longer indexed is no finding; a moved one is checked where it is now;
 * one still where it was found stands.
 */
export function checkFrameNow(
  frame: IndexedFrame,
  packs: PackFiles,
  store: CheckTarget,
  readData: boolean,
): ChunkFinding[] {
  const found = checkFrameOrGone(frame, packs, store.codec, readData);
  if (found.length === 0) return found;
  store.index.env.resetReadTxn();
  const stands: ChunkFinding[] = [];
  const moved = new Map<string, IndexedFrame>();
  for (const f of found) {
    const loc = store.index.location(f.chunk);
    if (!loc) continue;
    if (loc.pack === f.pack && loc.frameOffset === f.offset) {
      stands.push(f);
      continue;
    }
    const key = `${loc.pack}:${loc.frameOffset}`;
    const at = moved.get(key) ?? {
      pack: loc.pack,
      offset: loc.frameOffset,
      length: loc.frameLength,
      chunks: [],
    };
    at.chunks.push({ id: f.chunk, loc });
    moved.set(key, at);
  }
  for (const at of moved.values()) {
    packs.forget(at.pack);
    stands.push(...checkFrameOrGone(at, packs, store.codec, readData));
  }
  return stands;
}

/** checkFrame; a pack deleted between its size and its read is a missing pack too. */
function checkFrameOrGone(
  frame: IndexedFrame,
  packs: PackFiles,
  codec: FrameCodec,
  readData: boolean,
): ChunkFinding[] {
  try {
    return checkFrame(frame, packs, codec, readData);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    return missingPack(frame, packs);
  }
}

const missingPack = (frame: IndexedFrame, packs: PackFiles) =>
  frame.chunks.map(({ id }) =>
    finding(frame, id, "missing-pack", `pack file ${packs.path(frame.pack)} is missing`),
  );

export function checkFrame(
  frame: IndexedFrame,
  packs: PackFiles,
  codec: FrameCodec,
  readData: boolean,
): ChunkFinding[] {
  const all = (kind: ChunkDamage, detail: string) =>
    frame.chunks.map(({ id }) => finding(frame, id, kind, detail));
  const size = packs.size(frame.pack);
  if (size === undefined) return missingPack(frame, packs);
  const frameLength = frame.length;
  if (frame.offset + frameLength > size)
    return all(
      "short-read",
      `the pack ends at ${size}, before the frame's end at ${frame.offset + frameLength}`,
    );
  const bytes = packs.read(frame.pack, frame.offset, frameLength);
  let h: ParsedFrameHeader;
  try {
    h = parseFrameHeader(bytes, "frame");
  } catch (err) {
    return all("bad-header", (err as Error).message.replace(/^frame: /, ""));
  }
  if (h.headerLength + h.payloadLength !== frameLength)
    return all(
      "bad-header",
      `the header gives ${h.headerLength + h.payloadLength} bytes, the index ${frameLength}`,
    );
  const listed = new Set<string>();
  let inner = 0;
  for (const c of h.chunks) {
    listed.add(`${c.id.toString("latin1")}:${inner}:${c.length}`);
    inner += c.length;
  }
  const found: ChunkFinding[] = [];
  const present = frame.chunks.filter(({ id, loc }) => {
    if (listed.has(`${id.toString("latin1")}:${loc.innerOffset}:${loc.rawLength}`)) return true;
    found.push(
      finding(frame, id, "not-in-frame", "the frame's header does not list it where the index says"),
    );
    return false;
  });
  if (!readData || present.length === 0) return found;
  let raw: Buffer;
  try {
    raw = codec.decode(h.codec, bytes.subarray(h.headerLength), h.rawLength);
  } catch (err) {
    return [...found, ...present.map(({ id }) => finding(frame, id, "bad-data", (err as Error).message))];
  }
  for (const { id, loc } of present)
    if (!blake3(raw.subarray(loc.innerOffset, loc.innerOffset + loc.rawLength)).equals(id))
      found.push(finding(frame, id, "bad-hash", "its bytes do not match its id"));
  return found;
}

function finding(frame: IndexedFrame, chunk: ChunkId, kind: ChunkDamage, detail: string): ChunkFinding {
  return { kind, chunk, pack: frame.pack, offset: frame.offset, images: [], detail };
}

/** Every recipe: decodable and matching its digest; names the images using damaged chunks. */
function checkRecipes(index: IndexDb, damaged: Map<string, ChunkFinding>) {
  const recipeFindings: RecipeFinding[] = [];
  const incomplete: string[] = [];
  let recipes = 0;
  for (const { name } of index.summaries()) {
    recipes++;
    let r: Recipe | undefined;
    try {
      r = index.recipe(name);
    } catch (err) {
      recipeFindings.push({ kind: "bad-recipe", images: [name], detail: (err as Error).message });
      continue;
    }
    if (!r) {
      recipeFindings.push({
        kind: "missing-recipe",
        images: [name],
        detail: "listed but its recipe is missing",
      });
      continue;
    }
    if (!digestMatches(r))
      recipeFindings.push({
        kind: "bad-recipe",
        images: [name],
        detail: "its chunk list does not match its digest",
      });
    let missing = 0;
    for (let i = 0, n = entryCount(r); i < n; i++) {
      const id = entryId(r, i);
      if (id.equals(ZERO_ID)) continue;
      const f = damaged.get(id.toString("latin1"));
      if (f && f.images.at(-1) !== name) f.images.push(name);
      else if (!f && !index.has(id)) missing++;
    }
    if (missing > 0) incomplete.push(name);
  }
  return { recipes, recipeFindings, incomplete };
}

/** Pack files opened for reading, their sizes looked up once. */
export class PackFiles {
  private readonly sizes = new Map<number, number | undefined>();
  private readonly reader: PackReader;

  constructor(private readonly dir: string) {
    this.reader = new PackReader((id) => this.path(id));
  }

  path(pack: number): string {
    return packPath(this.dir, pack);
  }

  size(pack: number): number | undefined {
    if (!this.sizes.has(pack)) {
      const p = this.path(pack);
      this.sizes.set(pack, existsSync(p) ? statSync(p).size : undefined);
    }
    return this.sizes.get(pack);
  }

  read(pack: number, offset: number, length: number): Buffer {
    return this.reader.read(pack, offset, length);
  }

  /** Looks at the pack's size again next time (a writer may have appended to it since). */
  forget(pack: number): void {
    this.sizes.delete(pack);
  }

  close(): void {
    this.reader.close();
  }
}
