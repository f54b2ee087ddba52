import { plan as makePlan } from "../plan/plan.js";
import { NO_SITE, type Objective } from "../plan/types.js";
import type { WriteSite } from "../site/site.js";
import { uniqueChunks } from "../store/recipe.js";
import type { ChunkFinding } from "../store/check.js";
import type { ChunkId, Frame } from "../store/types.js";
import { Exit, NitroError } from "../util/errors.js";
import type { PullSource } from "./pull.js";

/** A chunk the repaired site must get back: its id, size, and the images it completes. */
export interface WantedChunk {
  id: ChunkId;
  length: number;
  images: string[];
}

export interface RefetchOptions {
  objective?: Objective;
  onEvent?(message: string): void;
  /** Raw bytes restored so far. */
  onProgress?(bytes: number): void;
}

export interface RefetchReport {
  restoredChunks: number;
  restoredBytes: number;
  sources: Array<{ site: string; chunks: number; bytes: number }>;
  /** Chunks no reachable site sent a good copy of, and the images they leave broken. */
  lost: WantedChunk[];
  lostImages: string[];
}

/**
 * What a repair fetches: the damaged chunks `dest` dropped that some image uses, and every chunk
 * the images in `whole` lack there (verify IMAGE --repair makes IMAGE whole, also after an
 * earlier repair lost some of it). Sizes come from the images' recipes at `dest`.
 */
export async function wantedChunks(
  dest: WriteSite,
  dropped: readonly ChunkFinding[],
  whole: readonly string[],
): Promise<WantedChunk[]> {
  const wanted = new Map<string, WantedChunk>();
  for (const f of dropped)
    if (f.images.length > 0)
      wanted.set(f.chunk.toString("latin1"), { id: f.chunk, length: 0, images: [...f.images] });
  const names = new Set([...whole, ...dropped.flatMap((f) => f.images)]);
  for (const name of [...names].sort()) {
    const recipe = await dest.getRecipe(name);
    if (!recipe) continue;
    const { ids, lengths } = uniqueChunks(recipe);
    const held = whole.includes(name) ? await dest.has(ids) : [];
    ids.forEach((id, i) => {
      const key = id.toString("latin1");
      const w = wanted.get(key);
      if (w) {
        w.length = lengths[i]!;
        if (!w.images.includes(name)) w.images.push(name);
      } else if (held[i] === false) wanted.set(key, { id, length: lengths[i]!, images: [name] });
    });
  }
  return [...wanted.values()];
}

/**
 * Copies the wanted chunks to `dest` from the sources holding them, the planner choosing which
 * source sends which chunk. Every chunk is checked by `dest` as it arrives; a source whose copy
 * is bad (or that fails) is retried in halves down to the bad chunk, which then goes to its next
 * holder. Sources are copied from one after another: the receiving store has one writer. A failure
 * of `dest` itself ends the repair (rethrown).
 */
export async function refetchChunks(
  dest: WriteSite,
  wanted: readonly WantedChunk[],
  all: readonly PullSource[],
  opts: RefetchOptions = {},
): Promise<RefetchReport> {
  const ids = wanted.map((w) => w.id);
  const answers = await Promise.allSettled(all.map((s) => s.site.has(ids)));
  const sources = all.filter((s, i) => {
    const a = answers[i]!;
    if (a.status === "rejected")
      opts.onEvent?.(`${s.name}: unreachable, left out (${(a.reason as Error).message})`);
    return a.status === "fulfilled";
  });
  if (sources.length > 32) throw new NitroError(Exit.USAGE, "a repair plans over at most 32 sites");
  const holders = new Uint32Array(wanted.length);
  answers
    .flatMap((a) => (a.status === "fulfilled" ? [a.value] : []))
    .forEach((held, s) => held.forEach((h, k) => h && (holders[k]! |= 1 << s)));
  const stats = sources.map((s) => ({ site: s.name, chunks: 0, bytes: 0 }));
  const done = new Uint8Array(wanted.length);
  let restoredBytes = 0;
  const index = new Map(wanted.map((w, k) => [w.id.toString("latin1"), k]));

  for (;;) {
    const open = wanted.map((_, k) => k).filter((k) => !done[k] && holders[k] !== 0);
    if (open.length === 0) break;
    const sizes = new Uint32Array(open.map((k) => wanted[k]!.length));
    const p = makePlan(
      { sites: sources, sizes, holders: new Uint32Array(open.map((k) => holders[k]!)) },
      opts.objective,
    );
    const bySource = sources.map((): number[] => []);
    p.assignment.forEach((s, j) => s !== NO_SITE && bySource[s]!.push(open[j]!));
    if (bySource.every((b) => b.length === 0)) break;
    for (let s = 0; s < sources.length; s++) {
      if (bySource[s]!.length === 0) continue;
      const copied = async (got: ChunkId[]) => {
        for (const id of got) {
          const k = index.get(id.toString("latin1"));
          if (k === undefined || done[k]) continue;
          done[k] = 1;
          stats[s]!.chunks++;
          stats[s]!.bytes += wanted[k]!.length;
          restoredBytes += wanted[k]!.length;
        }
        opts.onProgress?.(restoredBytes);
      };
      const failed = await copyChunks(
        dest,
        sources[s]!,
        bySource[s]!.map((k) => wanted[k]!.id),
        copied,
        opts,
      );
      for (const id of failed) holders[index.get(id.toString("latin1"))!]! &= ~(1 << s);
    }
  }
  const lost = wanted.filter((_, k) => !done[k]);
  return {
    restoredChunks: done.reduce((n, d) => n + d, 0),
    restoredBytes,
    sources: stats.filter((s) => s.chunks > 0),
    lost,
    lostImages: [...new Set(lost.flatMap((w) => w.images))].sort(),
  };
}

/** A failure of some chunk (a bad copy, one missing), not of the source as a whole. */
const isChunkError = (err: unknown) =>
  err instanceof NitroError && (err.exitCode === Exit.CORRUPT || err.exitCode === Exit.NOT_FOUND);

/**
 * One source's chunks into `dest`; returns the ids that did not land. When the source's copy is
 * refused (a corrupt chunk) or it lacks one, the rest is tried again in halves, so that one
 * bad chunk does not cost the good ones sent with it.
 */
async function copyChunks(
  dest: WriteSite,
  src: PullSource,
  ids: ChunkId[],
  copied: (ids: ChunkId[]) => Promise<void>,
  opts: RefetchOptions,
): Promise<ChunkId[]> {
  let sourceError: unknown;
  async function* fromSource(): AsyncGenerator<Frame> {
    try {
      yield* src.site.getFrames(ids);
    } catch (err) {
      sourceError = err;
      throw err;
    }
  }
  let error: unknown;
  try {
    await dest.putFrames(fromSource());
  } catch (err) {
    // The destination refusing a chunk as corrupt blames the source's copy; anything else of its own ends the repair.
    if (sourceError === undefined && !(err instanceof NitroError && err.exitCode === Exit.CORRUPT)) throw err;
    error = sourceError ?? err;
  }
  const held = await dest.has(ids);
  await copied(ids.filter((_, i) => held[i]));
  const rest = ids.filter((_, i) => !held[i]);
  if (rest.length === 0) return [];
  if (rest.length > 1 && isChunkError(error)) {
    const half = rest.length >> 1;
    return [
      ...(await copyChunks(dest, src, rest.slice(0, half), copied, opts)),
      ...(await copyChunks(dest, src, rest.slice(half), copied, opts)),
    ];
  }
  const why = error === undefined ? "it did not send them" : (error as Error).message;
  opts.onEvent?.(`${src.name}: ${rest.length} chunks not restored from it (${why})`);
  return rest;
}
