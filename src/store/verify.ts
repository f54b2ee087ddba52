import {
  allFrames,
  checkFrameNow,
  groupFrames,
  PackFiles,
  type ChunkFinding,
  type Finding,
  type IndexedFrame,
} from "./check.js";
import type { FrameCodec } from "./codec.js";
import type { IndexDb } from "./index-db.js";
import { digestMatches, uniqueChunks } from "./recipe.js";
import { dropChunks } from "./repair.js";
import type { Recipe } from "./types.js";
import { notFound } from "../util/errors.js";

export interface VerifyOptions {
  /** Only the chunks of these images (all of the store's chunks when empty). */
  images: string[];
  /** Decode every frame and hash every chunk, not only the index and frame headers. */
  readData: boolean;
  /** Then delete the index entries of the damaged chunks (repair's first step). */
  drop: boolean;
}

export type VerifyEvent =
  { type: "progress"; done: number; total: number } | { type: "finding"; finding: Finding };

/** Takes each event; a promise returned holds the walk until it settles (a congested link). */
export type VerifyListener = (e: VerifyEvent) => void | Promise<void>;

export interface VerifyReport {
  /** Chunks, frames and images verified. */
  chunks: number;
  frames: number;
  images: number;
  /** Chunk and recipe findings sent as events. */
  findings: number;
  /** Index entries deleted (with `drop`). */
  dropped: number;
  /** Of the images verified, those whose chunks are not all here (after any drop). */
  incomplete: string[];
}

export interface VerifyTarget {
  readonly dir: string;
  readonly index: IndexDb;
  readonly codec: FrameCodec;
}

/** Milliseconds of work between yields to the event loop (a server sends what was found). */
const SLICE_MS = 50;

/**
 * The check of check.ts, streamed: frame by frame over the chosen images' chunks (or the whole
 * index), each finding sent as soon as it is known, naming every image that uses the chunk, with
 * progress in bytes of frames. With `drop`, the damaged chunks' entries are then deleted.
 */
export async function verifyStore(
  store: VerifyTarget,
  opts: VerifyOptions,
  onEvent: VerifyListener,
  lockWait = 10,
): Promise<VerifyReport> {
  const names = new Set(store.index.summaries().map((s) => s.name));
  for (const name of opts.images) if (!names.has(name)) throw notFound(`no image '${name}' here`);
  const chosen = opts.images.length > 0 ? [...new Set(opts.images)] : [...names];
  const { recipes, findings: recipeFindings } = readRecipes(store.index, names, new Set(chosen));
  for (const finding of recipeFindings) await onEvent({ type: "finding", finding });

  const frames =
    opts.images.length > 0 ? framesOfRecipes(store.index, chosen, recipes) : allFrames(store.index);
  const users = chunkUsers(recipes);
  const total = frames.reduce((s, f) => s + f.length, 0);
  const damaged: ChunkFinding[] = [];
  const packs = new PackFiles(store.dir);
  let done = 0;
  let chunks = 0;
  try {
    let slice = performance.now();
    for (const frame of frames) {
      chunks += frame.chunks.length;
      for (const f of checkFrameNow(frame, packs, store, opts.readData)) {
        f.images = users.get(f.chunk.toString("latin1")) ?? [];
        damaged.push(f);
        await onEvent({ type: "finding", finding: f });
      }
      done += frame.length;
      if (performance.now() - slice >= SLICE_MS) {
        await onEvent({ type: "progress", done, total });
        await new Promise((r) => setImmediate(r));
        slice = performance.now();
      }
    }
  } finally {
    packs.close();
  }
  await onEvent({ type: "progress", done, total });
  const dropped = opts.drop ? await dropChunks(store, damaged, lockWait) : 0;
  return {
    chunks,
    frames: frames.length,
    images: chosen.length,
    findings: damaged.length + recipeFindings.length,
    dropped,
    incomplete: chosen.filter((n) => {
      const r = recipes.get(n);
      return r !== undefined && uniqueChunks(r).ids.some((id) => !store.index.has(id));
    }),
  };
}

/** Every decodable recipe (their chunks name the images a damaged chunk breaks); findings for the chosen. */
function readRecipes(index: IndexDb, names: Set<string>, chosen: Set<string>) {
  const recipes = new Map<string, Recipe>();
  const findings: Finding[] = [];
  for (const name of names) {
    let r: Recipe | undefined;
    try {
      r = index.recipe(name);
    } catch (err) {
      if (chosen.has(name))
        findings.push({ kind: "bad-recipe", images: [name], detail: (err as Error).message });
      continue;
    }
    if (!r) {
      if (chosen.has(name))
        findings.push({ kind: "missing-recipe", images: [name], detail: "listed but its recipe is missing" });
      continue;
    }
    if (!digestMatches(r) && chosen.has(name))
      findings.push({
        kind: "bad-recipe",
        images: [name],
        detail: "its chunk list does not match its digest",
      });
    recipes.set(name, r);
  }
  return { recipes, findings };
}

function chunkUsers(recipes: Map<string, Recipe>): Map<string, string[]> {
  const users = new Map<string, string[]>();
  for (const [name, r] of recipes)
    for (const id of uniqueChunks(r).ids) {
      const key = id.toString("latin1");
      const list = users.get(key);
      if (list) list.push(name);
      else users.set(key, [name]);
    }
  return users;
}

/** The frames of the chosen images' chunks that the index holds (the others are not here). */
function framesOfRecipes(index: IndexDb, chosen: string[], recipes: Map<string, Recipe>): IndexedFrame[] {
  const seen = new Set<string>();
  return groupFrames(
    (function* () {
      for (const name of chosen) {
        const r = recipes.get(name);
        if (!r) continue;
        for (const id of uniqueChunks(r).ids) {
          const key = id.toString("latin1");
          if (seen.has(key)) continue;
          seen.add(key);
          const value = index.chunks.get(id);
          if (value) yield { id, value };
        }
      }
    })(),
  );
}
