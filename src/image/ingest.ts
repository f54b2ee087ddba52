import { createRequire } from "node:module";
import { open, stat, type FileHandle } from "node:fs/promises";
import type { Stats } from "node:fs";
import { scanFile } from "../chunk/scan.js";
import { exists, fromSystemError, usage } from "../util/errors.js";
import { EntriesBuilder, recipeDigest, validateImageName } from "../store/recipe.js";
import type { Store } from "../store/store.js";
import type { StoreWriter } from "../store/writer.js";
import type { Recipe } from "../store/types.js";

const require = createRequire(import.meta.url);
const { blake3 } = require("@napi-rs/blake-hash") as typeof import("@napi-rs/blake-hash");

export interface ImageInput {
  path: string;
  name: string;
}

export interface AddOptions {
  force?: boolean;
  lockWait?: number;
  /** An image's scan begins (before its first progress call). */
  onStart?: (input: ImageInput, size: number) => void;
  onProgress?: (done: number, total: number) => void;
  /** An image is committed; the ones before it stay stored if a later one fails. */
  onAdded?: (result: AddResult) => void;
}

export interface AddResult {
  recipe: Recipe;
  /** Size of the image. */
  logicalBytes: number;
  chunks: number;
  /** Bytes in holes and all-zero chunks: recorded, never stored. */
  zeroBytes: number;
  /** Chunks and bytes this image added to the store (not there before). */
  newChunks: number;
  newBytes: number;
  /** Growth of the pack bytes the index refers to. */
  storedBytes: number;
  seconds: number;
}

interface OpenInput extends ImageInput {
  fh: FileHandle;
  st: Stats;
}

/** `nitro add` of one file. */
export async function addImage(
  store: Store,
  path: string,
  opts: AddOptions & { name: string },
): Promise<AddResult> {
  const [r] = await addImages(store, [{ path, name: opts.name }], opts);
  return r!;
}

/**
 * `nitro add`: every input is opened and every name checked before anything is written; then one
 * pass over each file, chunks stored once, each recipe committed after its chunks. One writer
 * (lock, pack, compression worker) serves all the files.
 */
export async function addImages(store: Store, inputs: ImageInput[], opts: AddOptions): Promise<AddResult[]> {
  checkNames(store, inputs, opts.force ?? false);
  const opened: OpenInput[] = [];
  try {
    for (const input of inputs) opened.push(await openInput(input));
    const writer = await store.writer(opts.lockWait);
    // Each image's commit (an fsync, then the index transaction) overlaps the next image's scan.
    const commits: Promise<void>[] = [];
    let failed: { err: unknown } | undefined;
    try {
      const results: AddResult[] = [];
      for (const input of opened) {
        if (failed) throw failed.err;
        const { committed } = await ingestOne(writer, input, opts).catch((err) => {
          throw blame(err, store, input);
        });
        const reported = committed.then(
          (result) => {
            results.push(result);
            opts.onAdded?.(result);
          },
          (err) => {
            failed ??= { err: blame(new StoreFailure(err), store, input) };
            throw failed.err;
          },
        );
        reported.catch(() => undefined); // seen by the loop or by Promise.all below
        commits.push(reported);
      }
      await Promise.all(commits);
      return results;
    } finally {
      // The images before a failure stay stored: their commits land before the lock goes.
      await Promise.allSettled(commits);
      writer.close();
    }
  } finally {
    await Promise.all(opened.map((o) => o.fh.close()));
  }
}

function checkNames(store: Store, inputs: ImageInput[], force: boolean): void {
  const seen = new Map<string, string>();
  for (const { path, name } of inputs) {
    validateImageName(name);
    const other = seen.get(name);
    if (other !== undefined) throw usage(`${other} and ${path} would both be image '${name}'`);
    seen.set(name, path);
    if (!force && store.getRecipe(name))
      throw exists(
        `image '${name}' already exists (use --force to replace it, or --name to pick another name)`,
      );
  }
}

/**
 * A failure of the store (packs, index) while adding an image: it names the repository, so that
 * a full disk is not blamed on the input file.
 */
class StoreFailure {
  constructor(readonly cause: unknown) {}
}

function blame(err: unknown, store: Store, input: ImageInput): unknown {
  if (err instanceof StoreFailure)
    return fromSystemError(err.cause, `repository ${store.dir} (adding ${input.path})`);
  return fromSystemError(err, input.path);
}

/** Runs a call into the store writer, marking what it throws as the store's. */
function inStore<T>(call: () => T): T {
  try {
    const value = call();
    if (value instanceof Promise)
      return value.catch((err: unknown) => {
        throw new StoreFailure(err);
      }) as T;
    return value;
  } catch (err) {
    throw new StoreFailure(err);
  }
}

async function openInput(input: ImageInput): Promise<OpenInput> {
  // Checked before opening: open(2) of a FIFO with no writer would block for ever.
  const before = await stat(input.path).catch((err) => {
    throw fromSystemError(err, input.path);
  });
  checkInputKind(input.path, before);
  const fh = await open(input.path, "r").catch((err) => {
    throw fromSystemError(err, input.path);
  });
  try {
    const st = await fh.stat();
    checkInputKind(input.path, st);
    return { ...input, fh, st };
  } catch (err) {
    await fh.close();
    throw fromSystemError(err, input.path);
  }
}

function checkInputKind(path: string, st: Stats): void {
  if (st.isDirectory()) throw usage(`${path}: is a directory, not an image file`);
  if (!st.isFile() && !st.isBlockDevice())
    throw usage(
      `${path}: not a regular file or block device (a pipe, socket or character device cannot be added)`,
    );
}

/**
 * Cuts and stores one image; resolves once its frames are written, with its commit under way and
 * `committed` giving the image's figures once the commit has landed.
 */
async function ingestOne(writer: StoreWriter, input: OpenInput, opts: AddOptions) {
  const t0 = performance.now();
  const { st } = input;
  const store = writer.store;
  const storedBefore = writer.storedBytes;
  const entries = new EntriesBuilder();
  const res = { chunks: 0, zeroBytes: 0, newChunks: 0, newBytes: 0 };
  opts.onStart?.(input, st.size);
  await scanFile(input.fh, st.size, store.config.chunker, {
    chunk(data) {
      const id = blake3(data);
      entries.add(id, data.length);
      res.chunks++;
      if (inStore(() => writer.addChunk(id, data))) {
        res.newChunks++;
        res.newBytes += data.length;
      }
    },
    zeros(n) {
      entries.addZeros(n);
      res.zeroBytes += n;
    },
    progress: (done) => opts.onProgress?.(done, st.size),
    drain: () => inStore(() => writer.drain()),
  });
  const list = entries.finish();
  const recipe: Recipe = {
    name: input.name,
    size: st.size,
    chunker: store.config.chunker,
    digest: recipeDigest(st.size, list),
    created: new Date().toISOString(),
    entries: list,
  };
  const { done } = await inStore(() => writer.commitSoon(recipe));
  const storedBytes = writer.storedBytes - storedBefore;
  const committed = done.then((): AddResult => ({
    recipe,
    logicalBytes: st.size,
    ...res,
    storedBytes,
    seconds: (performance.now() - t0) / 1000,
  }));
  return { committed };
}
